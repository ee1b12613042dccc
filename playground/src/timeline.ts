/**
 * The inspector's picture: a certificate's validity period on a time axis, with "now", the renewal time by the
 * one-third rule, and the CA's ARI window when there is one. Plain SVG; every mark carries `data-marker` and
 * `data-time` so what is drawn can be checked against the dates.
 */

const NS = 'http://www.w3.org/2000/svg'
const WIDTH = 720
const HEIGHT = 150
const PAD = 24
const BAR_Y = 58
const BAR_H = 26

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag)
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value))
  if (text !== undefined) el.textContent = text
  return el
}

export interface TimelineInput {
  notBefore: Date
  notAfter: Date
  now: Date
  /** Renewal time by the one-third rule. */
  renewAt: Date
  /** The CA's suggested renewal window (RFC 9773), when it gave one. */
  ari?: { start: Date; end: Date }
}

const day = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ')

/** What the colours of {@link timeline} mean (for people who see it; the SVG has its own text alternative). */
export function timelineLegend(withAri: boolean): HTMLElement {
  const item = (swatch: string, text: string) => {
    const li = document.createElement('li')
    const mark = document.createElement('span')
    mark.className = `swatch ${swatch}`
    li.append(mark, text)
    return li
  }
  const list = document.createElement('ul')
  list.className = 'legend'
  list.setAttribute('aria-hidden', 'true')
  list.append(
    item('sw-valid', 'valid'),
    item('sw-due', 'last third: renewal due'),
    ...(withAri ? [item('sw-ari', 'the CA’s ARI window')] : []),
    item('sw-now', 'now'),
  )
  return list
}

/** Draws the timeline; the text alternative lists the same dates. */
export function timeline(input: TimelineInput): SVGSVGElement {
  const times = [
    input.notBefore,
    input.notAfter,
    input.now,
    ...(input.ari ? [input.ari.start, input.ari.end] : []),
  ]
  let from = Math.min(...times.map((t) => t.getTime()))
  let to = Math.max(...times.map((t) => t.getTime()))
  const margin = (to - from) * 0.04 || 3_600_000
  from -= margin
  to += margin
  const x = (t: Date) => PAD + ((t.getTime() - from) / (to - from)) * (WIDTH - 2 * PAD)
  const anchor = (px: number) => (px < PAD + 60 ? 'start' : px > WIDTH - PAD - 60 ? 'end' : 'middle')

  const lifetimeDays = (input.notAfter.getTime() - input.notBefore.getTime()) / 86_400_000
  const title = `Validity of ${lifetimeDays.toFixed(1)} days`
  const description = [
    `Valid from ${day(input.notBefore)} to ${day(input.notAfter)} UTC.`,
    `Now is ${day(input.now)}.`,
    `Renewal by the one-third rule at ${day(input.renewAt)}.`,
    input.ari ? `The CA suggests renewing between ${day(input.ari.start)} and ${day(input.ari.end)}.` : '',
  ].join(' ')

  const root = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-labelledby': 'timeline-title timeline-desc',
    class: 'timeline',
    id: 'timeline',
  })
  root.append(
    svg('title', { id: 'timeline-title' }, title),
    svg('desc', { id: 'timeline-desc' }, description),
  )

  // The validity period, and the last third of it (when renewal is due).
  const left = x(input.notBefore)
  const right = x(input.notAfter)
  root.append(
    svg('rect', {
      x: left,
      y: BAR_Y,
      width: right - left,
      height: BAR_H,
      rx: 4,
      class: 'tl-valid',
      'data-marker': 'validity',
    }),
    svg('rect', {
      x: x(input.renewAt),
      y: BAR_Y,
      width: right - x(input.renewAt),
      height: BAR_H,
      class: 'tl-due',
      'data-marker': 'due',
    }),
    svg(
      'text',
      { x: left, y: BAR_Y + BAR_H + 52, 'text-anchor': anchor(left), class: 'tl-label' },
      `from ${day(input.notBefore)}`,
    ),
    svg(
      'text',
      { x: right, y: BAR_Y + BAR_H + 52, 'text-anchor': anchor(right), class: 'tl-label' },
      `until ${day(input.notAfter)}`,
    ),
  )

  if (input.ari) {
    const start = x(input.ari.start)
    const end = x(input.ari.end)
    root.append(
      svg('rect', {
        x: start,
        y: BAR_Y - 8,
        width: Math.max(2, end - start),
        height: BAR_H + 16,
        class: 'tl-ari',
        'data-marker': 'ari',
        'data-time': `${input.ari.start.toISOString()}/${input.ari.end.toISOString()}`,
      }),
      svg(
        'text',
        {
          x: (start + end) / 2,
          y: BAR_Y - 14,
          'text-anchor': anchor((start + end) / 2),
          class: 'tl-label tl-ari-label',
        },
        'ARI window',
      ),
    )
  }

  const renew = x(input.renewAt)
  root.append(
    svg('line', {
      x1: renew,
      x2: renew,
      y1: BAR_Y - 4,
      y2: BAR_Y + BAR_H + 14,
      class: 'tl-renew',
      'data-marker': 'renew',
      'data-time': input.renewAt.toISOString(),
    }),
    svg(
      'text',
      { x: renew, y: BAR_Y + BAR_H + 28, 'text-anchor': anchor(renew), class: 'tl-label' },
      'renew (⅓ left)',
    ),
  )

  const now = x(input.now)
  root.append(
    svg('line', {
      x1: now,
      x2: now,
      y1: 22,
      y2: BAR_Y + BAR_H + 4,
      class: 'tl-now',
      'data-marker': 'now',
      'data-time': input.now.toISOString(),
    }),
    svg('text', { x: now, y: 16, 'text-anchor': anchor(now), class: 'tl-label tl-now-label' }, 'now'),
  )
  return root
}
