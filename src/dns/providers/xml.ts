/**
 * Just enough XML for the Route53 REST API and Namecheap's XML API, which speak nothing else: a parser of
 * elements, attributes and text (no DTDs, no processing of namespaces beyond dropping prefixes) and escaping for
 * the request bodies. Workers, Deno and Node have no `DOMParser`, so this is written out.
 */

/**
 * An element: local name (prefix dropped), attributes (by their names as written, values decoded), child
 * elements, and its own text content (entities decoded).
 */
export interface XmlElement {
  name: string
  attributes: Record<string, string>
  children: XmlElement[]
  text: string
}

/** Escapes text for element content (quotes stay as they are: TXT values are full of them). */
export function escapeXml(text: string): string {
  return text.replace(/[<>&]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp' }[c]};`)
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_, entity: string) => {
    if (entity[0] === '#') {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? Number.parseInt(entity.slice(2), 16)
          : Number(entity.slice(1))
      return String.fromCodePoint(code)
    }
    return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[entity.toLowerCase()] ?? ''
  })
}

/** Parses a document and returns its root element. Throws `SyntaxError` on malformed input. */
export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' }
  const stack: XmlElement[] = [root]
  const tag =
    /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<!DOCTYPE[^>]*>/g
  let last = 0
  for (let match = tag.exec(xml); match; match = tag.exec(xml)) {
    const current = stack[stack.length - 1]!
    const between = xml.slice(last, match.index)
    if (between.includes('<')) throw new SyntaxError(`malformed XML near offset ${last}`)
    current.text += decodeEntities(between)
    last = tag.lastIndex
    const [whole, closing, qname, attributeText, selfClosing, cdata] = match
    if (cdata !== undefined) current.text += cdata
    if (!qname) continue
    const name = qname.slice(qname.indexOf(':') + 1)
    if (closing) {
      if (attributeText || selfClosing || stack.length < 2 || current.name !== name)
        throw new SyntaxError(`unexpected ${whole} in XML`)
      stack.pop()
    } else {
      const element: XmlElement = {
        name,
        attributes: readAttributes(attributeText ?? ''),
        children: [],
        text: '',
      }
      current.children.push(element)
      if (!selfClosing) stack.push(element)
    }
  }
  if (xml.slice(last).includes('<') || stack.length !== 1) throw new SyntaxError('unterminated XML')
  const [first] = root.children
  if (!first || root.children.length !== 1) throw new SyntaxError('XML must have exactly one root element')
  return first
}

function readAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = Object.create(null)
  for (const [, name, double, single] of text.matchAll(/([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    if (name! in attributes) throw new SyntaxError(`attribute ${name} repeated in XML`)
    attributes[name!] = decodeEntities(double ?? single ?? '')
  }
  return attributes
}

/** The first child element called `name`. */
export function child(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element?.children.find((c) => c.name === name)
}

/** Every child element called `name`. */
export function children(element: XmlElement | undefined, name: string): XmlElement[] {
  return element?.children.filter((c) => c.name === name) ?? []
}

/** The trimmed text of the element at `path` (child names), or `undefined` when it is missing. */
export function textAt(element: XmlElement | undefined, ...path: string[]): string | undefined {
  let at = element
  for (const name of path) at = child(at, name)
  return at?.text.trim()
}
