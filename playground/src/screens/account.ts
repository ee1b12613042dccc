/**
 * The account screen: pick a CA, hold an account key (non-extractable, in IndexedDB), and create, find, update,
 * roll over and deactivate the ACME account.
 */
import {
  caPresets,
  createAccount,
  deactivate,
  describeError,
  describeKey,
  findAccount,
  importAccountKey,
  type KeyBackup,
  loadDirectory,
  newAccountKey,
  rollOver,
  updateContact,
} from '../acme.ts'
import { type AccountRecord, deleteAccount, loadAccount, saveAccount } from '../keystore.ts'
import type { State, Store } from '../state.ts'
import { byId, definitionList, fill, h, outputBlock, releaseDownloads, run, setStatus } from '../ui.ts'

export function mountAccount(store: Store): void {
  const presetSelect = byId<'select'>('ca-preset')
  const directoryInput = byId<'input'>('ca-directory')
  const eabBox = byId<'fieldset'>('ca-eab')
  const eabKid = byId<'input'>('eab-kid')
  const eabHmac = byId<'input'>('eab-hmac')
  const caForm = byId<'form'>('ca-form')
  const caLoad = byId<'button'>('ca-load')
  const caInfo = byId<'div'>('ca-info')
  const caError = byId<'div'>('ca-error')
  const untrusted = byId<'p'>('ca-untrusted')

  const keyStatus = byId<'p'>('key-status')
  const keyBackup = byId<'input'>('key-backup')
  const keyGenerate = byId<'button'>('key-generate')
  const keyForget = byId<'button'>('key-forget')
  const keyImportText = byId<'textarea'>('key-import-text')
  const keyImport = byId<'button'>('key-import')
  const keyBackupOut = byId<'div'>('key-backup-out')
  const keyError = byId<'div'>('key-error')

  const contactInput = byId<'input'>('acct-contact')
  const tosValue = byId<'span'>('acct-tos-value')
  const agree = byId<'input'>('acct-agree')
  const create = byId<'button'>('acct-create')
  const find = byId<'button'>('acct-find')
  const details = byId<'div'>('acct-details')
  const update = byId<'button'>('acct-update')
  const rollover = byId<'button'>('acct-rollover')
  const deactivateConfirm = byId<'input'>('acct-deactivate-confirm')
  const deactivateButton = byId<'button'>('acct-deactivate')
  const acctError = byId<'div'>('acct-error')
  const notice = byId<'p'>('acct-notice')
  const tell = (text: string) => setStatus(notice, text, 'ok')

  const presets = caPresets(store.get().local.pebbleUrl)
  for (const preset of presets) presetSelect.append(h('option', { value: preset.id }, preset.label))
  const presetOf = (url: string) => presets.find((p) => p.url === url && p.url !== '') ?? presets.at(-1)!

  const showPreset = (id: string) => {
    const preset = presets.find((p) => p.id === id)
    if (preset && preset.id !== 'custom') directoryInput.value = preset.url
    eabBox.hidden = !(preset?.eab || store.get().directory?.meta?.externalAccountRequired)
  }
  presetSelect.addEventListener('change', () => {
    showPreset(presetSelect.value)
    if (presetSelect.value === 'custom') directoryInput.focus()
  })
  directoryInput.addEventListener('input', () => {
    presetSelect.value = presetOf(directoryInput.value.trim()).id
  })
  for (const input of [eabKid, eabHmac]) {
    input.addEventListener('input', () =>
      store.set({ eab: { kid: eabKid.value.trim(), hmacKey: eabHmac.value.trim() } }),
    )
  }

  /**
   * Why a directory could not be loaded, in words for the page's user. The browser hides why a fetch failed; a
   * request that needs no CORS tells a server that answered (a wrong URL, not ACME) from one it cannot reach.
   */
  const diagnose = async (err: unknown, url: string): Promise<string | undefined> => {
    const { code } = describeError(err)
    const status = (err as { status?: unknown }).status
    if (code === 'ABORTED') return undefined
    if (code !== 'ERR_NETWORK') {
      return typeof status === 'number' && status >= 400
        ? `${url} answers HTTP ${status}: there is no ACME directory at this URL.`
        : `${url} answered, but not with an ACME directory.`
    }
    const answered = await fetch(url, { mode: 'no-cors', cache: 'no-store' }).then(
      () => true,
      () => false,
    )
    if (answered)
      return `${url} answered, but without the CORS headers a page needs: it is not an ACME directory this page can use (check the URL; a wrong path answers like this).`
    const { caCertUrl, pebbleUrl } = store.get().local
    if (caCertUrl && pebbleUrl && new URL(url).origin === new URL(pebbleUrl).origin) {
      // The local Pebble: its CA certificate is offered by `npm run playground` (the words are in index.html).
      byId<'a'>('ca-cert-link').href = caCertUrl
      untrusted.hidden = false
      return undefined
    }
    return `This browser could not reach ${url} over a TLS connection it trusts. Check the URL; a CA with a certificate from a private CA must be trusted by the browser first.`
  }

  /**
   * Switches to a CA: its directory from the network, its account record from IndexedDB. A CA that cannot be
   * loaded leaves the page on the previous one.
   */
  const useCa = async (url: string) => {
    const previous = store.get().directoryUrl
    let failure: unknown
    untrusted.hidden = true
    await run(caLoad, caError, 'Loading the directory', async () => {
      setStatus(caInfo, `Loading ${url}…`, 'busy')
      const account = await loadAccount(url)
      try {
        const directory = await loadDirectory(url, account)
        if (url !== previous) agree.checked = false // an agreement is to one CA's terms
        setStatus(notice, '')
        fill(acctError)
        store.set({ directoryUrl: url, directory, account })
      } catch (err) {
        failure = err
        delete caInfo.dataset.kind
        fill(caInfo)
        if (url === previous) store.set({ account }) // the first CA: its key is still shown
        directoryInput.value = previous
        presetSelect.value = presetOf(previous).id
        showPreset(presetSelect.value)
        render(store.get())
        throw err
      }
    })
    if (failure === undefined) return
    const why = await diagnose(failure, url)
    caError.querySelector('.hint')?.remove() // the guess about CORS and TLS: replaced by what was found
    if (why) caError.querySelector('.error')?.append(h('p', { class: 'hint' }, why))
  }

  caForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const url = directoryInput.value.trim()
    let https = false
    try {
      https = new URL(url).protocol === 'https:' // ACME runs over HTTPS only (RFC 8555 §6.1)
    } catch {}
    if (!https) {
      fill(caError, h('p', { class: 'error' }, 'Enter the CA’s directory URL: ACME runs over https:// only.'))
      directoryInput.focus()
      return
    }
    void useCa(url)
  })

  const saveRecord = async (record: AccountRecord) => {
    await saveAccount(record)
    store.set({ account: record })
  }

  const showBackup = (backup: KeyBackup | undefined) => {
    releaseDownloads(keyBackupOut)
    if (!backup) {
      fill(keyBackupOut)
      keyBackupOut.hidden = true
      return
    }
    const done = h('button', { type: 'button', id: 'key-backup-done' }, 'I saved it: hide the key')
    done.addEventListener('click', () => {
      showBackup(undefined)
      keyGenerate.focus()
    })
    fill(
      keyBackupOut,
      h('h4', { id: 'key-backup-title', tabindex: '-1' }, 'Backup of the new account key'),
      h('p', { class: 'warn' }, 'Save it now, somewhere safe: the page will not be able to show it again.'),
      outputBlock('key-backup-pem', 'Private key (PKCS#8 PEM)', backup.pem, {
        filename: 'account-key.pem',
        label: 'Download account-key.pem',
      }),
      outputBlock('key-backup-jwk', 'Private key (JWK)', backup.jwk, {
        filename: 'account-key.jwk.json',
        label: 'Download account-key.jwk.json',
      }),
      h('div', { class: 'buttons' }, done),
    )
    keyBackupOut.hidden = false
    byId<'h4'>('key-backup-title').focus()
  }

  /** Runs a button's action: errors to `errors`, the success notice cleared first, the screen redrawn after. */
  const action = (
    button: HTMLButtonElement,
    errors: HTMLElement,
    context: string,
    work: () => Promise<void>,
  ) =>
    button.addEventListener('click', () => {
      setStatus(notice, '')
      void run(button, errors, context, work, () => render(store.get()))
    })

  action(keyGenerate, keyError, 'Generating a key', async () => {
    const { keyPair, backup } = await newAccountKey(keyBackup.checked)
    await saveRecord({ directoryUrl: store.get().directoryUrl, keyPair })
    showBackup(backup)
  })

  action(keyImport, keyError, 'Importing the key', async () => {
    const keyPair = await importAccountKey(keyImportText.value)
    await saveRecord({ directoryUrl: store.get().directoryUrl, keyPair })
    keyImportText.value = '' // the text was the only extractable copy in the page
    byId<'details'>('key-import-box').open = false
    showBackup(undefined)
  })

  action(keyForget, keyError, 'Forgetting the key', async () => {
    await deleteAccount(store.get().directoryUrl)
    store.set({ account: undefined })
    showBackup(undefined)
  })

  const contact = () =>
    contactInput.value
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
  const record = () => store.get().account!

  const afterAccount = async (account: { url: string; status: string; contact?: string[] | undefined }) => {
    await saveRecord({
      ...record(),
      accountUrl: account.url,
      status: account.status,
      ...(account.contact && { contact: account.contact }),
    })
  }

  action(create, acctError, 'Creating the account', async () => {
    if (!agree.checked) {
      fill(
        acctError,
        h(
          'p',
          { class: 'error', 'data-code': 'TERMS_NOT_AGREED' },
          'Read the terms of service and tick “I agree” first: the page never agrees for you.',
        ),
      )
      agree.focus()
      return
    }
    const { eab, directory } = store.get()
    const needsEab = directory?.meta?.externalAccountRequired === true || !eabBox.hidden
    const account = await createAccount(record(), {
      termsOfServiceAgreed: true,
      contact: contact(),
      ...(needsEab && eab.kid !== '' && eab.hmacKey !== '' ? { eab } : {}),
    })
    await afterAccount(account)
    tell('The CA created the account (or found the one this key already had).')
  })

  action(find, acctError, 'Finding the account', async () => {
    await afterAccount(await findAccount(record()))
    tell('The CA knows this key: its account is shown above.')
  })

  action(update, acctError, 'Updating the contact', async () => {
    const next = contact().map((c) => (c.includes(':') ? c : `mailto:${c}`))
    if (next.length === 0 || next.join() === record().contact?.join()) {
      fill(
        acctError,
        h('p', { class: 'error', 'data-code': 'NOTHING_TO_UPDATE' }, 'Enter a new contact address first.'),
      )
      contactInput.focus()
      return
    }
    await afterAccount(await updateContact(record(), next))
    tell('Contact updated.')
  })

  action(rollover, acctError, 'Rolling the key over', async () => {
    const result = await rollOver(record(), keyBackup.checked)
    await saveRecord({ ...record(), keyPair: result.keyPair, status: result.account.status })
    tell(
      `The account now uses a new key; the old one no longer works.${result.backup ? ' The new key’s backup is under “Account key”.' : ''}`,
    )
    showBackup(result.backup)
  })

  deactivateConfirm.addEventListener('change', () => render(store.get()))
  action(deactivateButton, acctError, 'Deactivating the account', async () => {
    await afterAccount(await deactivate(record()))
    deactivateConfirm.checked = false
    tell('The account is deactivated. Its certificates stay valid until they expire or are revoked.')
  })

  let rendered: CryptoKeyPair | undefined
  let shown: AccountRecord | undefined
  const render = (state: State) => {
    const { directory, account } = state
    if (account !== shown) {
      // The account's contact as the CA last gave it (also after a reload).
      shown = account
      contactInput.value = (account?.contact ?? []).map((c) => c.replace(/^mailto:/, '')).join(', ')
    }
    const tos = directory?.meta?.termsOfService
    fill(
      tosValue,
      tos
        ? h('a', { href: tos, target: '_blank', rel: 'noopener', id: 'acct-tos-link' }, tos)
        : directory
          ? 'this CA publishes none'
          : 'load the CA first',
    )
    if (directory) {
      const meta = directory.meta ?? {}
      delete caInfo.dataset.kind
      fill(
        caInfo,
        definitionList(
          [
            ['Directory', state.directoryUrl],
            [
              'Website',
              meta.website
                ? h('a', { href: meta.website, target: '_blank', rel: 'noopener' }, meta.website)
                : '—',
            ],
            ['External account binding', meta.externalAccountRequired ? 'required' : 'not required'],
            ['Renewal information (ARI)', directory.renewalInfo ? 'offered' : 'not offered'],
            ['Profiles', meta.profiles ? Object.keys(meta.profiles).join(', ') : '—'],
          ],
          { class: 'compact', id: 'ca-details' },
        ),
      )
      if (meta.externalAccountRequired) eabBox.hidden = false
    }

    const active = Boolean(account?.accountUrl) && account?.status === 'valid'
    keyGenerate.disabled = keyImport.disabled = active
    keyForget.disabled = !account
    create.disabled = find.disabled = !account || !directory
    update.disabled = rollover.disabled = !active
    deactivateButton.disabled = !active || !deactivateConfirm.checked

    if (!account) {
      rendered = undefined
      delete keyStatus.dataset.thumbprint
      setStatus(
        keyStatus,
        'No account key for this CA in this browser: generate one or import yours.',
        'info',
      )
    } else if (rendered !== account.keyPair) {
      rendered = account.keyPair
      const keyPair = account.keyPair
      void describeKey(keyPair).then((key) => {
        if (store.get().account?.keyPair !== keyPair) return
        keyStatus.dataset.thumbprint = key.thumbprint
        setStatus(
          keyStatus,
          `${key.algorithm} key, thumbprint ${key.thumbprint}, kept in this browser; private key ${key.extractable ? 'EXTRACTABLE' : 'not extractable'}.`,
          key.extractable ? 'warn' : 'ok',
        )
      })
    }
    fill(
      details,
      account?.accountUrl &&
        definitionList(
          [
            ['Account URL', h('code', { id: 'acct-url' }, account.accountUrl)],
            [
              'Status',
              h('span', { id: 'acct-status', class: `badge ${account.status ?? ''}` }, account.status ?? '?'),
            ],
            ['Contact', h('span', { id: 'acct-contact-shown' }, account.contact?.join(', ') || 'none')],
          ],
          { class: 'compact' },
        ),
    )
  }

  store.subscribe(render)
  const initial = presetOf(store.get().directoryUrl)
  presetSelect.value = initial.id
  directoryInput.value = store.get().directoryUrl
  showPreset(initial.id)
  render(store.get())
  void useCa(store.get().directoryUrl)
}
