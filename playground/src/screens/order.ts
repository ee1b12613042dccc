/**
 * The order screen: names to an order, what to publish for each authorization (with a live DNS-over-HTTPS check
 * for dns-01), validation with progress per name, then finalization with a key made here and the downloads.
 * Cancel aborts everything in flight: the library's requests, its waits and the DNS checks.
 */
import {
  type ChallengeTask,
  type ChallengeType,
  describeError,
  finishOrder,
  placeOrder,
  resolver,
  validate,
} from '../acme.ts'
import { inspectChain, parseNames } from '../certs.ts'
import { readCsr } from '../csr-read.ts'
import { loadPendingOrder, type PendingOrderRecord, savePendingOrder } from '../keystore.ts'
import type { Store } from '../state.ts'
import {
  byId,
  copyButton,
  definitionList,
  downloadLink,
  fill,
  h,
  keyTypeOptions,
  outputBlock,
  releaseDownloads,
  setStatus,
  showError,
  when,
} from '../ui.ts'

/** A value in a `<code>` with its copy button. */
function copyable(className: string, value: string, label: string): HTMLElement {
  return h(
    'span',
    { class: 'value' },
    h('code', { class: className }, value),
    copyButton(label, () => value),
  )
}

/** How often the page looks for a TXT record on its own (the "Check now" button asks at once). */
const DNS_CHECK_INTERVAL_MS = 5000

interface TaskView {
  task: ChallengeTask
  card: HTMLElement
  state: HTMLElement
  errors: HTMLElement
  dnsState?: HTMLElement
  visible: boolean
  check?: () => Promise<void>
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export function mountOrder(store: Store): void {
  const form = byId<'form'>('order-form')
  const accountLine = byId<'p'>('order-account')
  const names = byId<'textarea'>('order-names')
  const keyType = byId<'select'>('order-key-type')
  const dohUrl = byId<'input'>('order-doh-url')
  const dohFormat = byId<'select'>('order-doh-format')
  const dohSummary = byId<'span'>('order-doh-summary')
  const place = byId<'button'>('order-place')
  const cancel = byId<'button'>('order-cancel')
  const status = byId<'p'>('order-status')
  const errors = byId<'div'>('order-error')
  const tasksBox = byId<'div'>('order-tasks')
  const validateCard = byId<'div'>('order-validate-card')
  const validateButton = byId<'button'>('order-validate')
  const result = byId<'div'>('order-result')
  const csrText = byId<'textarea'>('order-csr')
  const dohBox = byId<'details'>('order-doh-box')
  const dnsRadio = byId<'input'>('order-dns')
  const resumeCard = byId<'div'>('order-resume')
  const resumeText = byId<'p'>('order-resume-text')
  const resumeGo = byId<'button'>('order-resume-go')
  const resumeDrop = byId<'button'>('order-resume-drop')
  const challenge = () =>
    (form.querySelector('input[name="order-challenge"]:checked') as HTMLInputElement).value as ChallengeType
  // The DNS check is for dns-01 only.
  const syncChallenge = () => {
    dohBox.hidden = challenge() !== 'dns-01'
  }
  form.addEventListener('change', syncChallenge)
  syncChallenge()

  keyTypeOptions(keyType)
  const { doh } = store.get()
  dohUrl.value = doh.url
  dohFormat.value = doh.format
  const syncDoh = () => {
    store.set({ doh: { url: dohUrl.value.trim(), format: dohFormat.value === 'wire' ? 'wire' : 'json' } })
    dohSummary.textContent = `${store.get().doh.url} (${dohFormat.value === 'wire' ? 'RFC 8484' : 'JSON'})`
  }
  dohUrl.addEventListener('change', syncDoh)
  dohFormat.addEventListener('change', syncDoh)
  syncDoh()

  let controller: AbortController | undefined
  let dnsController: AbortController | undefined
  let current:
    | {
        order: Awaited<ReturnType<typeof placeOrder>>['order']
        views: TaskView[]
        pending: PendingOrderRecord
      }
    | undefined
  /** The order kept for this CA after a reload, offered for resumption. */
  let kept: PendingOrderRecord | undefined
  const forget = (directoryUrl: string) => void savePendingOrder(directoryUrl).catch(() => {})
  const drop = () => {
    if (current) forget(current.pending.directoryUrl)
    current = undefined
    validateCard.hidden = true
  }
  // Leaving the page while an order is open asks first (the order itself is kept, and offered after a reload).
  addEventListener('beforeunload', (event) => {
    if (current || controller) event.preventDefault()
  })

  const begin = () => {
    controller = new AbortController()
    place.disabled = true
    cancel.disabled = false
    fill(errors)
    return controller.signal
  }
  const end = () => {
    const cancelled = controller?.signal.aborted
    controller = undefined
    place.disabled = false
    cancel.disabled = true
    validateButton.disabled = !current
    if (cancelled) place.focus() // back to the form after Cancel
  }
  const failed = (err: unknown, context: string) => {
    dnsController?.abort()
    if (controller?.signal.aborted) {
      setStatus(
        status,
        'Cancelled: nothing more is sent. An order already placed stays pending at the CA until it expires.',
        'warn',
      )
      drop()
    } else {
      setStatus(status, `${context} failed.`, 'warn')
      showError(errors, err, context)
    }
  }

  cancel.addEventListener('click', () => {
    controller?.abort()
    dnsController?.abort()
  })

  const setHeading = (text: string) => {
    const heading = tasksBox.querySelector('#order-tasks-title')
    if (heading) heading.textContent = text
  }

  const setTaskState = (view: TaskView, text: string, kind: string) => {
    view.state.textContent = text
    view.card.dataset.state = kind
  }

  const renderTask = (task: ChallengeTask, index: number, all: ChallengeTask[]): TaskView => {
    const shared = task.dns !== undefined && all.some((t) => t !== task && t.dns?.name === task.dns?.name)
    const state = h('p', { class: 'task-state', role: 'status' })
    const errorBox = h('div', { class: 'task-error', role: 'alert' })
    const card = h('article', {
      class: 'card task',
      'data-task': task.name,
      'aria-labelledby': `task-${index}-title`,
    })
    const view: TaskView = { task, card, state, errors: errorBox, visible: false }
    const title = h(
      'h3',
      { id: `task-${index}-title` },
      task.name,
      ' ',
      h('span', { class: 'type' }, task.challenge?.type ?? 'already valid'),
    )
    if (task.dns) {
      const { name, value } = task.dns
      const dnsState = h(
        'p',
        { class: 'dns-state', 'data-dns': 'unchecked', 'aria-live': 'polite' },
        'DNS: not checked yet',
      )
      view.dnsState = dnsState
      const checkNow = h(
        'button',
        { type: 'button', class: 'small dns-check' },
        `Check DNS now for ${task.name}`,
      )
      checkNow.addEventListener('click', () => void view.check?.())
      card.append(
        title,
        h(
          'p',
          {},
          shared
            ? 'Add this TXT record at your DNS provider. Another name of this order uses the same record name: publish both values side by side.'
            : 'Add this TXT record at your DNS provider:',
        ),
        definitionList(
          [
            ['Record name', copyable('dns-name', name, 'Copy name')],
            ['Type', 'TXT'],
            ['Value', copyable('dns-value', value, 'Copy value')],
          ],
          { class: 'record' },
        ),
        h('div', { class: 'dns-line' }, dnsState, checkNow),
      )
    } else if (task.http) {
      const { url, path, content } = task.http
      card.append(
        title,
        h('p', {}, 'Serve this file over plain HTTP, on port 80 of the name:'),
        definitionList(
          [
            ['URL', copyable('http-url', url, 'Copy URL')],
            ['Content', copyable('http-content', content, 'Copy content')],
          ],
          { class: 'record' },
        ),
        h(
          'p',
          { class: 'note' },
          'File: ',
          h('code', { class: 'http-path' }, path),
          ' ',
          downloadLink('Download the file', path.split('/').pop() ?? 'token', content),
        ),
      )
    } else {
      card.append(
        title,
        h('p', {}, 'The CA already holds a valid authorization for this name: nothing to publish.'),
      )
    }
    card.append(state, errorBox)
    setTaskState(view, task.challenge ? 'Waiting for you' : 'Valid', task.challenge ? 'waiting' : 'valid')
    return view
  }

  /** Looks the TXT value up now and then until it is visible, or the watch is stopped. */
  const watchDns = (view: TaskView, signal: AbortSignal) => {
    const dns = view.task.dns!
    view.check = async () => {
      if (signal.aborted || view.visible) return
      const { url, format } = store.get().doh
      try {
        const values = await resolver(url, format).resolveTxt(dns.name, { signal })
        if (signal.aborted || view.visible) return
        if (values.includes(dns.value)) {
          view.visible = true
          view.dnsState!.dataset.dns = 'visible'
          view.dnsState!.textContent = `DNS: the value is visible at ${url}`
          setTaskState(view, 'Record visible: ready for the CA', 'ready')
        } else {
          view.dnsState!.dataset.dns = 'waiting'
          view.dnsState!.textContent = `DNS: not visible yet${values.length ? ` (${values.length} other value${values.length > 1 ? 's' : ''} there)` : ''}; checking again every ${DNS_CHECK_INTERVAL_MS / 1000} s`
        }
      } catch (err) {
        if (signal.aborted) return
        view.dnsState!.dataset.dns = 'error'
        view.dnsState!.textContent = `DNS check failed (${describeError(err).code}): ${describeError(err).message}`
      }
    }
    void (async () => {
      while (!signal.aborted && !view.visible) {
        await view.check!()
        await sleep(DNS_CHECK_INTERVAL_MS, signal)
      }
    })()
  }

  /** Places an order for `list` (or reads the kept one again) and shows what to publish for each name. */
  const start = (list: string[], preferred: ChallengeType, note: string, resume?: PendingOrderRecord) => {
    const { account, directoryUrl } = store.get()
    if (!account?.accountUrl) return
    const csrPem = resume ? resume.csrPem : csrText.value.trim() || undefined
    const signal = begin()
    dnsController?.abort()
    current = undefined
    resumeCard.hidden = true
    releaseDownloads(tasksBox)
    releaseDownloads(result)
    fill(tasksBox)
    fill(result)
    validateCard.hidden = true
    setStatus(status, resume ? 'Reading the order again…' : 'Placing the order…', 'busy')
    void (async () => {
      try {
        const { order, tasks } = await placeOrder(account, list, preferred, signal, resume?.orderUrl)
        // Finalized before the reload with a key made here: that key is gone, its certificate of no use.
        if (resume && !resume.csrPem && /valid|processing/.test(order.status))
          throw new TypeError(
            'this order was finalized before the reload; its key is gone: place a new order',
          )
        const views = tasks.map((task, i) => renderTask(task, i, tasks))
        const pending: PendingOrderRecord = resume ?? {
          directoryUrl,
          accountUrl: account.accountUrl!,
          orderUrl: order.url,
          names: list,
          challenge: preferred,
          keyType: keyType.value,
          ...(csrPem && { csrPem }),
        }
        await savePendingOrder(pending)
        current = { order, views, pending }
        const heading = h(
          'h3',
          { id: 'order-tasks-title', tabindex: '-1' },
          `Order ${order.status}: ${tasks.length} name${tasks.length > 1 ? 's' : ''} to prove`,
        )
        fill(tasksBox, heading, ...views.map((v) => v.card))
        dnsController = new AbortController()
        const dnsSignal = AbortSignal.any([signal, dnsController.signal])
        for (const view of views) if (view.task.dns) watchDns(view, dnsSignal)
        validateCard.hidden = false
        setStatus(
          status,
          `${note}Order ${resume ? 'resumed' : 'placed'}. Publish what each name below asks for, then ask the CA to validate.`,
          'info',
        )
        heading.focus()
      } catch (err) {
        if (resume) forget(resume.directoryUrl) // gone, expired or invalid: nothing to resume
        failed(err, resume ? 'Resuming the order' : 'Placing the order')
      } finally {
        end()
      }
    })()
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const { account } = store.get()
    if (!account?.accountUrl || account.status !== 'valid') {
      fill(errors, h('p', { class: 'error' }, 'Create or find an account on the Account screen first.'))
      return
    }
    let list: string[]
    try {
      // With the user's own CSR, the order is for exactly its names (RFC 8555 §7.4).
      list = csrText.value.trim() ? readCsr(csrText.value).names : parseNames(names.value)
    } catch (err) {
      showError(errors, err, 'Reading the CSR')
      csrText.focus()
      return
    }
    names.value = list.join('\n')
    if (list.length === 0) {
      fill(errors, h('p', { class: 'error' }, 'Enter at least one name.'))
      names.focus()
      return
    }
    let note = ''
    // A wildcard can only be proved with dns-01 (RFC 8555 §7.1.3; CAs offer nothing else for it).
    if (challenge() === 'http-01' && list.some((n) => n.startsWith('*.'))) {
      dnsRadio.checked = true
      syncChallenge()
      note = 'A wildcard can only be proved with dns-01: switched to dns-01. '
    }
    if (
      current &&
      !confirm(
        `The order for ${current.pending.names.join(', ')} is still open. Leave it and place a new one?`,
      )
    )
      return
    start(list, challenge(), note)
  })

  resumeGo.addEventListener('click', () => {
    if (kept) start(kept.names, kept.challenge, '', kept)
  })
  resumeDrop.addEventListener('click', () => {
    if (kept) forget(kept.directoryUrl)
    kept = undefined
    resumeCard.hidden = true
    names.focus()
  })

  validateButton.addEventListener('click', () => {
    const { account } = store.get()
    if (!current || !account) return
    const { order, views } = current
    const signal = begin()
    validateButton.disabled = true
    dnsController?.abort() // the CA looks for itself from now on
    for (const button of tasksBox.querySelectorAll<HTMLButtonElement>('button.dns-check'))
      button.disabled = true
    setStatus(status, 'The CA is validating…', 'busy')
    void (async () => {
      try {
        const outcomes = await Promise.allSettled(
          views.map(async (view) => {
            if (!view.task.challenge) return
            setTaskState(view, 'Validating…', 'validating')
            try {
              await validate(account, view.task, signal)
              setTaskState(view, 'Valid', 'valid')
            } catch (err) {
              setTaskState(
                view,
                signal.aborted ? 'Cancelled' : 'Invalid',
                signal.aborted ? 'waiting' : 'invalid',
              )
              if (!signal.aborted) showError(view.errors, err, `Validation of ${view.task.name}`)
              throw err
            }
          }),
        )
        const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')
        if (rejected && !signal.aborted) {
          // Each failure is on its name's card already.
          setHeading('Order invalid: a name failed validation')
          setStatus(
            status,
            'The CA could not validate every name: see the cards above. Fix it, then place a new order.',
            'warn',
          )
          drop()
          return
        }
        if (rejected) throw rejected.reason
        const { csrPem, keyType: type } = current.pending
        const issued = await finishOrder(
          account,
          order,
          csrPem ? { csr: { ...readCsr(csrPem), pem: csrPem } } : { keyType: type },
          signal,
          (step) => setStatus(status, `All names valid: ${step}…`, 'busy'),
        )
        const report = await inspectChain(issued.chainPem)
        const leaf = report.certificates[0]!.parsed
        store.set({
          issued: {
            chainPem: issued.chainPem,
            keyPem: issued.keyPem ?? '',
            names: order.identifiers.map((i) => i.value),
          },
        })
        drop()
        setHeading(`Order valid: ${views.length} name${views.length > 1 ? 's' : ''} proved`)
        fill(
          result,
          h(
            'div',
            { class: 'card', id: 'order-issued' },
            h('h3', { id: 'order-issued-title', tabindex: '-1' }, 'Certificate issued'),
            definitionList(
              [
                ['Names', [...leaf.dnsNames, ...leaf.ipAddresses].join(', ')],
                ['Valid', `${when(leaf.notBefore)} to ${when(leaf.notAfter)}`],
                ['Issuer', leaf.issuer.dn],
                [
                  'Chain',
                  `${report.certificates.length} certificates${report.inOrder ? ', in order' : ', NOT in order'}`,
                ],
                [
                  'Key',
                  h(
                    'span',
                    { id: 'order-key-check' },
                    `${issued.keyAlgorithm}, ${issued.keyPem ? 'made in this page' : 'your CSR’s (not in this page)'}: ${issued.keyMatches ? 'matches the certificate' : 'DOES NOT match the certificate'}`,
                  ),
                ],
              ],
              { class: 'compact' },
            ),
            h(
              'div',
              { class: 'buttons' },
              downloadLink('Download fullchain.pem', 'fullchain.pem', issued.chainPem, true),
              issued.keyPem && downloadLink('Download privkey.pem', 'privkey.pem', issued.keyPem, true),
            ),
            h(
              'details',
              {},
              h('summary', {}, 'Show the PEM text'),
              outputBlock('order-chain-pem', 'Chain', issued.chainPem),
              issued.keyPem && outputBlock('order-key-pem', 'Key', issued.keyPem),
            ),
            h(
              'p',
              {},
              'Look at it in the ',
              h('a', { href: '#inspect' }, 'inspector'),
              ', or revoke it on the ',
              h('a', { href: '#revoke' }, 'revocation'),
              ' screen.',
            ),
          ),
        )
        setStatus(status, 'Done: the certificate is below.', 'ok')
        byId<'h3'>('order-issued-title').focus()
      } catch (err) {
        drop() // an order with an invalid authorization is invalid: place a new one
        failed(err, 'Validation and issuance')
      } finally {
        end()
      }
    })()
  })

  let lookedUp: string | undefined
  const render = () => {
    const { account, directoryUrl } = store.get()
    const usable = account?.accountUrl && account.status === 'valid'
    accountLine.textContent = usable
      ? `Ordering as ${account.accountUrl}`
      : 'No usable account yet: create or find one on the Account screen first.'
    // An order kept from before a reload, by this account at this CA: offer it.
    const key = usable ? `${directoryUrl} ${account.accountUrl}` : undefined
    if (key === lookedUp) return
    lookedUp = key
    kept = undefined
    resumeCard.hidden = true
    if (!usable) return
    void loadPendingOrder(directoryUrl).then((record) => {
      if (!record || record.accountUrl !== account.accountUrl || current || controller) return
      kept = record
      resumeText.textContent = `An order from before the page was reloaded is still open: ${record.names.join(', ')} (${record.challenge}${record.csrPem ? ', your CSR' : ''}).`
      resumeCard.hidden = false
    })
  }
  store.subscribe(render)
  render()
}
