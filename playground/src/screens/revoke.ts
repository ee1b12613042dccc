/** Revocation (RFC 8555 §7.6), signed with the account key or with the certificate's own key. */
import { REVOCATION_REASON_NAMES, revoke } from '../acme.ts'
import { inspectChain } from '../certs.ts'
import type { Store } from '../state.ts'
import { byId, h, run, setStatus } from '../ui.ts'

export function mountRevoke(store: Store): void {
  const form = byId<'form'>('revoke-form')
  const pem = byId<'textarea'>('revoke-pem')
  const reason = byId<'select'>('revoke-reason')
  const withAccount = byId<'input'>('revoke-with-account')
  const withKey = byId<'input'>('revoke-with-key')
  const keyField = byId<'div'>('revoke-key-field')
  const key = byId<'textarea'>('revoke-key')
  const button = byId<'button'>('revoke-run')
  const status = byId<'p'>('revoke-status')
  const errors = byId<'div'>('revoke-error')

  for (const name of REVOCATION_REASON_NAMES) reason.append(h('option', { value: name }, name))

  const useIssued = h(
    'button',
    { type: 'button', id: 'revoke-use-issued', class: 'quiet', hidden: true },
    'Use the certificate from the order screen',
  )
  useIssued.addEventListener('click', () => {
    const issued = store.get().issued
    if (!issued) return
    pem.value = issued.chainPem
    key.value = issued.keyPem
    pem.focus()
  })
  pem.after(useIssued)

  const syncSigner = () => {
    keyField.hidden = !withKey.checked
  }
  withAccount.addEventListener('change', syncSigner)
  withKey.addEventListener('change', syncSigner)
  syncSigner()
  store.subscribe((state) => {
    useIssued.hidden = !state.issued
  })

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const state = store.get()
    // Revocation cannot be undone (RFC 5280 §3.3): ask first.
    if (!confirm(`Revoke this certificate (reason ${reason.value})? This cannot be undone.`)) return
    void run(button, errors, 'Revocation', async () => {
      setStatus(status, '')
      // Read it first: a paste error shows before anything is sent.
      const leaf = (await inspectChain(pem.value)).certificates[0]!.parsed
      if (withKey.checked) {
        await revoke(pem.value, reason.value as (typeof REVOCATION_REASON_NAMES)[number], {
          directoryUrl: state.directoryUrl,
          certificateKeyPem: key.value,
        })
      } else {
        const record = state.account
        if (!record?.accountUrl)
          throw new TypeError('no account at this CA: create or find one on the Account screen')
        await revoke(pem.value, reason.value as (typeof REVOCATION_REASON_NAMES)[number], { record })
      }
      status.dataset.serial = leaf.serialNumber
      setStatus(
        status,
        `Revoked certificate ${leaf.serialNumber} (${leaf.dnsNames[0] ?? leaf.subject.dn}), reason ${reason.value}, signed with ${withKey.checked ? 'its own key' : 'the account key'}.`,
        'ok',
      )
    })
  })
}
