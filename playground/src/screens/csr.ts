/** The CSR tool: names and a key (new, or the user's) to a PKCS#10 request, offline. */
import { makeCsr, parseNames } from '../certs.ts'
import { byId, definitionList, fill, h, keyTypeOptions, outputBlock, releaseDownloads, run } from '../ui.ts'

/** A button that takes the CSR to the order screen, which finalizes with it (the key stays where it is). */
function orderWith(csrPem: string): HTMLButtonElement {
  const button = h('button', { type: 'button', id: 'csr-order' }, 'Order with this CSR')
  button.addEventListener('click', () => {
    byId<'textarea'>('order-csr').value = csrPem
    byId<'details'>('order-csr-box').open = true
    location.hash = '#order'
  })
  return button
}

export function mountCsr(): void {
  const form = byId<'form'>('csr-form')
  const names = byId<'textarea'>('csr-names')
  const keyNew = byId<'input'>('csr-key-new')
  const keyMine = byId<'input'>('csr-key-mine')
  const keyType = byId<'select'>('csr-key-type')
  const keyPemField = byId<'div'>('csr-key-pem-field')
  const keyPem = byId<'textarea'>('csr-key-pem')
  const create = byId<'button'>('csr-create')
  const out = byId<'div'>('csr-out')
  const errors = byId<'div'>('csr-error')

  keyTypeOptions(keyType)
  const syncKeyChoice = () => {
    keyPemField.hidden = !keyMine.checked
    keyType.disabled = !keyNew.checked
  }
  keyNew.addEventListener('change', syncKeyChoice)
  keyMine.addEventListener('change', syncKeyChoice)
  syncKeyChoice()

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void run(create, errors, 'Creating the CSR', async () => {
      releaseDownloads(out)
      fill(out)
      const list = parseNames(names.value)
      if (list.length === 0) throw new TypeError('enter at least one name')
      const result = await makeCsr(list, keyMine.checked ? { pem: keyPem.value } : { type: keyType.value })
      fill(
        out,
        definitionList(
          [
            ['Names', result.identifiers.join(', ')],
            ['Key', `${result.keyAlgorithm}${result.keyPem ? ' (new, made in this page)' : ' (yours)'}`],
          ],
          { class: 'compact', id: 'csr-summary' },
        ),
        outputBlock('csr-pem', 'CSR', result.csrPem, {
          filename: 'request.csr',
          label: 'Download request.csr',
        }),
        orderWith(result.csrPem),
        result.keyPem &&
          outputBlock('csr-key-out', 'Private key', result.keyPem, {
            filename: 'private-key.pem',
            label: 'Download private-key.pem',
          }),
      )
    })
  })
}
