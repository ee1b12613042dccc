/** The CSR tool: names and a key (new, or the user's) to a PKCS#10 request, offline. */
import { makeCsr, parseNames } from '../certs.ts'
import { byId, definitionList, fill, h, keyTypeOptions, outputBlock, releaseDownloads, run } from '../ui.ts'

/** A button that takes the CSR to the order screen, which finalizes with it (the key stays where it is). */
function orderWith(csrPem: string): HTMLButtonElement {
  const button = h('button', { type: 'button', id: 'csr-order' }, 'Order with this CSR')
  button.addEventListener('click', () => {
    byId('order-csr', HTMLTextAreaElement).value = csrPem
    byId('order-csr-box', HTMLDetailsElement).open = true
    location.hash = '#order'
  })
  return button
}

export function mountCsr(): void {
  const form = byId('csr-form', HTMLFormElement)
  const names = byId('csr-names', HTMLTextAreaElement)
  const keyNew = byId('csr-key-new', HTMLInputElement)
  const keyMine = byId('csr-key-mine', HTMLInputElement)
  const keyType = byId('csr-key-type', HTMLSelectElement)
  const keyPemField = byId('csr-key-pem-field', HTMLDivElement)
  const keyPem = byId('csr-key-pem', HTMLTextAreaElement)
  const create = byId('csr-create', HTMLButtonElement)
  const out = byId('csr-out', HTMLDivElement)
  const errors = byId('csr-error', HTMLDivElement)

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
