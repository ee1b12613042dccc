// The small XML reader used for Route53.
import { describe, expect, it } from 'vitest'
import { child, children, escapeXml, parseXml, textAt } from './xml.ts'

describe('parseXml', () => {
  it('reads elements, text, entities, CDATA and self-closing tags, dropping prefixes', () => {
    const root = parseXml(
      '<?xml version="1.0"?>\n<!-- c --><r:Root xmlns:r="urn:x" a="1"><A>x &amp; &lt;y&gt; &#65;&#x42;</A><B/><A><![CDATA[<raw>]]></A></r:Root>',
    )
    expect(root.name).toBe('Root')
    expect(children(root, 'A').map((a) => a.text)).toEqual(['x & <y> AB', '<raw>'])
    expect(child(root, 'B')).toMatchObject({ name: 'B', children: [] })
    expect(textAt(root, 'Missing', 'Deeper')).toBeUndefined()
  })

  it('reads attributes with either quote, entities decoded; a repeated attribute is malformed', () => {
    const root = parseXml(
      `<R Status="OK"><host Name="@" Type='TXT' Address="a &quot;b&quot; &amp; c" /><Errors/></R>`,
    )
    expect(root.attributes).toEqual({ Status: 'OK' })
    expect(child(root, 'host')?.attributes).toEqual({ Name: '@', Type: 'TXT', Address: 'a "b" & c' })
    expect(child(root, 'Errors')?.attributes).toEqual({})
    expect(() => parseXml('<R a="1" a="2"/>')).toThrow(SyntaxError)
    expect(() => parseXml('<R></R a="1">')).toThrow(SyntaxError)
  })

  it('rejects malformed documents', () => {
    for (const bad of ['<a><b></a>', '<a>', '<a></a><b></b>', 'text', '<a>1 < 2</a>']) {
      expect(() => parseXml(bad)).toThrow(SyntaxError)
    }
  })

  it('escapes element text', () => {
    expect(escapeXml('"a" <b> & c')).toBe('"a" &lt;b&gt; &amp; c')
  })
})
