/**
 * The certificate inspector: a PEM certificate or chain to its fields, the RFC 9773 CertID, whether the chain is
 * in order, and a timeline with now, the one-third renewal time and the CA's ARI window.
 */
import type { RenewalInfo } from 'webacme'
import { describeError, renewalInfo } from '../acme.ts'
import { type CertificateReport, type ChainReport, inspectChain } from '../certs.ts'
import type { Store } from '../state.ts'
import { timeline, timelineLegend } from '../timeline.ts'
import { byId, definitionList, fill, h, run, timeElement, when } from '../ui.ts'

type AriOutcome = { info: RenewalInfo } | { none: true } | { error: unknown } | { skipped: true }

function chainVerdict(report: ChainReport): HTMLElement {
  const n = report.certificates.length
  const broken = report.links.filter((l) => !l.nameMatches || l.keyIdMatches === false)
  const end = report.endsWithRoot
    ? 'It ends with a self-signed root.'
    : n > 1
      ? 'It ends below a root (the root is left out, as servers usually do).'
      : ''
  return h(
    'p',
    {
      id: 'inspect-chain',
      class: report.inOrder ? 'verdict ok' : 'verdict bad',
      'data-in-order': String(report.inOrder),
    },
    report.inOrder
      ? `Chain of ${n} certificate${n > 1 ? 's' : ''}: in order, each is issued by the next. ${end}`
      : `Chain of ${n} certificates: NOT in order. ${broken
          .map((l) => `Certificate ${l.index + 1} is not issued by certificate ${l.index + 2}.`)
          .join(' ')}`,
  )
}

function certificateCard(cert: CertificateReport, index: number): HTMLElement {
  const p = cert.parsed
  const sans = [...p.dnsNames, ...p.ipAddresses]
  const role = index === 0 ? 'Leaf' : p.isCA ? 'CA certificate' : 'Certificate'
  return h(
    'article',
    { class: 'card cert', 'data-index': index, 'aria-labelledby': `cert-${index}-title` },
    h(
      'h3',
      { id: `cert-${index}-title` },
      `${index + 1}. ${role}: ${p.subject.commonName ?? (p.subject.dn || '(empty subject)')}`,
    ),
    definitionList(
      [
        ['Subject', p.subject.dn || '(empty)'],
        ['Issuer', p.issuer.dn],
        ['Names (SANs)', sans.length ? sans.join(', ') : 'none'],
        ['Serial', h('code', { class: 'serial' }, p.serialNumber)],
        ['Key', h('span', { class: 'key' }, cert.keyAlgorithm)],
        ['Not before', timeElement(p.notBefore, { class: 'not-before' })],
        ['Not after', timeElement(p.notAfter, { class: 'not-after' })],
        [
          'CertID (RFC 9773)',
          'value' in cert.certId ? h('code', { class: 'cert-id' }, cert.certId.value) : cert.certId.error,
        ],
      ],
      { class: 'fields' },
    ),
  )
}

function renewalText(report: ChainReport, ari: AriOutcome): HTMLElement {
  const rows: Array<[string, Node | string]> = [
    ['By the one-third rule', timeElement(report.renewAt, { id: 'inspect-renew-at' })],
  ]
  if ('info' in ari) {
    const { suggestedWindow: w, explanationURL, retryAfter } = ari.info
    rows.push([
      'The CA’s ARI window',
      h(
        'span',
        { id: 'inspect-ari', 'data-start': w.start.toISOString(), 'data-end': w.end.toISOString() },
        `${when(w.start)} to ${when(w.end)}`,
      ),
    ])
    rows.push(['Ask the CA again after', timeElement(retryAfter)])
    if (explanationURL)
      rows.push(['Why', h('a', { href: explanationURL, target: '_blank', rel: 'noopener' }, explanationURL)])
  } else if ('none' in ari) {
    rows.push([
      'The CA’s ARI window',
      h('span', { id: 'inspect-ari' }, 'this CA offers no renewal information (ARI)'),
    ])
  } else if ('error' in ari) {
    const view = describeError(ari.error)
    rows.push([
      'The CA’s ARI window',
      h(
        'span',
        { id: 'inspect-ari', 'data-code': view.code },
        `not available: ${view.code}: ${view.problem?.detail ?? view.message}`,
      ),
    ])
  }
  return definitionList(rows, { class: 'compact', id: 'inspect-renewal' })
}

export function mountInspector(store: Store): void {
  const form = byId<'form'>('inspect-form')
  const pem = byId<'textarea'>('inspect-pem')
  const ca = byId<'input'>('inspect-ca')
  const button = byId<'button'>('inspect-run')
  const errors = byId<'div'>('inspect-error')
  const out = byId<'div'>('inspect-out')

  const useIssued = h(
    'button',
    { type: 'button', id: 'inspect-use-issued', class: 'quiet', hidden: true },
    'Use the certificate from the order screen',
  )
  useIssued.addEventListener('click', () => {
    const issued = store.get().issued
    if (issued) pem.value = issued.chainPem
    pem.focus()
  })
  button.after(useIssued)

  // The CA field follows the account screen's CA until the user types another.
  let caEdited = false
  ca.addEventListener('input', () => (caEdited = true))
  const render = () => {
    const state = store.get()
    if (!caEdited) ca.value = state.directoryUrl
    useIssued.hidden = !state.issued
  }
  store.subscribe(render)
  render()

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void run(button, errors, 'Inspecting', async () => {
      fill(out)
      const report = await inspectChain(pem.value)
      let ari: AriOutcome = { skipped: true }
      const caUrl = ca.value.trim()
      if (caUrl) {
        try {
          const info = await renewalInfo(caUrl, report.certificates[0]!.pem)
          ari = info ? { info } : { none: true }
        } catch (error) {
          ari = { error }
        }
      }
      const leaf = report.certificates[0]!.parsed
      fill(
        out,
        h(
          'div',
          { class: 'card', id: 'inspect-summary' },
          h('h3', {}, 'Validity and renewal'),
          timeline({
            notBefore: leaf.notBefore,
            notAfter: leaf.notAfter,
            now: new Date(),
            renewAt: report.renewAt,
            ...('info' in ari && { ari: ari.info.suggestedWindow }),
          }),
          timelineLegend('info' in ari),
          renewalText(report, ari),
          chainVerdict(report),
        ),
        ...report.certificates.map(certificateCard),
      )
    })
  })
}
