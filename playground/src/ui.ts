/**
 * The few DOM pieces every screen uses: element lookup, an element factory, copy and download controls, and how
 * an error or a status is shown. No framework: screens keep their static markup in index.html and build only the
 * parts that depend on data.
 */
import { describeError, type ErrorView, KEY_TYPES } from './acme.ts'

/** The element with `id`, a `<K>` in index.html (a missing element is a bug there). */
export function byId<K extends keyof HTMLElementTagNameMap>(id: string): HTMLElementTagNameMap[K] {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} is missing`)
  return el as HTMLElementTagNameMap[K]
}

type Child = Node | string | false | null | undefined
type Props = Record<string, string | number | boolean | undefined>

/**
 * Creates an element. Props become attributes (`true` sets an empty attribute, `false`/`undefined` none), so
 * nothing but text ever reaches the DOM: no `innerHTML` anywhere in the page.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue
    el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) if (child) el.append(child)
  return el
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string => Boolean(c)))
}

/** A button that copies `text()` to the clipboard and says whether it worked. */
export function copyButton(label: string, text: () => string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'small' }, label)
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text())
      flash(button, 'Copied')
    } catch {
      // Clipboard access needs permission or a secure context; selecting by hand always works.
      flash(button, 'Copy failed: select the text and copy it')
    }
  })
  return button
}

function flash(button: HTMLButtonElement, message: string): void {
  const label = button.dataset.label ?? button.textContent ?? ''
  button.dataset.label = label
  button.textContent = message
  button.addEventListener('blur', () => (button.textContent = label), { once: true })
}

const blobUrls = new WeakMap<HTMLAnchorElement, string>()

/** A link that downloads `text` as `filename` (an `<a download>`, so Enter works as on any link). */
export function downloadLink(label: string, filename: string, text: string, main = false): HTMLAnchorElement {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }))
  const link = h('a', { href: url, download: filename, class: main ? 'button' : 'button small' }, label)
  blobUrls.set(link, url)
  return link
}

/** Releases the blob URLs of the download links inside `el` (before its content is replaced). */
export function releaseDownloads(el: Element): void {
  for (const link of el.querySelectorAll('a[download]')) {
    const url = blobUrls.get(link as HTMLAnchorElement)
    if (url) URL.revokeObjectURL(url)
  }
}

/** A read-only text area with a label, plus copy (and optionally download) controls. */
export function outputBlock(
  id: string,
  label: string,
  text: string,
  download?: { filename: string; label: string },
): HTMLElement {
  const area = h('textarea', {
    id,
    readonly: true,
    rows: Math.min(12, text.split('\n').length),
    spellcheck: 'false',
  })
  area.value = text
  return h(
    'div',
    { class: 'output' },
    h('label', { for: id }, label),
    area,
    h(
      'div',
      { class: 'buttons' },
      copyButton(
        `Copy ${/^[A-Z][a-z]/.test(label) ? label[0]!.toLowerCase() + label.slice(1) : label}`,
        () => text,
      ),
      download && downloadLink(download.label, download.filename, text),
    ),
  )
}

/** Shows an error: the library's `code`, the CA's problem (type, detail, subproblems) when there is one. */
export function showError(target: HTMLElement, err: unknown, context?: string): ErrorView {
  const view = describeError(err)
  fill(
    target,
    h(
      'div',
      { class: 'error', 'data-code': view.code },
      h(
        'p',
        {},
        h('strong', {}, context ? `${context} failed` : 'Failed'),
        ': ',
        h('code', { class: 'code' }, view.code),
      ),
      h('p', { class: 'message' }, view.message),
      view.problem &&
        h(
          'dl',
          { class: 'problem' },
          h('dt', {}, 'CA problem'),
          h('dd', {}, h('code', {}, view.problem.type)),
          view.problem.detail !== undefined && h('dt', {}, 'Detail'),
          view.problem.detail !== undefined && h('dd', { class: 'problem-detail' }, view.problem.detail),
          ...view.problem.subproblems.flatMap((sub) => [
            h('dt', {}, sub.identifier ? sub.identifier.value : 'Subproblem'),
            h('dd', {}, `${sub.detail ?? ''} (${sub.type})`),
          ]),
        ),
      view.hint && h('p', { class: 'hint' }, view.hint),
    ),
  )
  return view
}

/** Sets a status line; `kind` colours it. */
export function setStatus(
  target: HTMLElement,
  text: string,
  kind: 'ok' | 'busy' | 'warn' | 'info' = 'info',
): void {
  target.dataset.kind = kind
  target.textContent = text
}

/**
 * Runs `work` with `button` disabled and marked busy, clearing `errors` first and filling it on failure; then
 * `refresh` sets every control of the screen from the new state (the button included). Resolves to the result,
 * or `undefined` after a failure (already shown).
 */
export async function run<T>(
  button: HTMLButtonElement,
  errors: HTMLElement,
  context: string,
  work: () => Promise<T>,
  refresh?: () => void,
): Promise<T | undefined> {
  fill(errors)
  button.disabled = true
  button.setAttribute('aria-busy', 'true')
  try {
    return await work()
  } catch (err) {
    showError(errors, err, context)
    return undefined
  } finally {
    button.disabled = false
    button.removeAttribute('aria-busy')
    refresh?.()
  }
}

/** A time as people read it, to the second: `2026-11-30 18:44:16 UTC`. */
export function when(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

/** A `<time>` element showing {@link when} with the exact ISO time in `datetime`. */
export function timeElement(date: Date, props: Props = {}): HTMLTimeElement {
  return h('time', { ...props, datetime: date.toISOString() }, when(date))
}

/** A `<dl>` from label/value pairs; values that are nodes are kept as they are. */
export function definitionList(rows: Array<[string, Child]>, props: Props = {}): HTMLDListElement {
  return h('dl', props, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]))
}

/** Fills a `<select>` with the certificate key types. */
export function keyTypeOptions(select: HTMLSelectElement): void {
  for (const [value, spec] of Object.entries(KEY_TYPES)) select.append(h('option', { value }, spec.label))
}
