/**
 * The playground page: state, the five screens, navigation between them (the URL fragment), and the request log.
 */
import { caPresets, type HttpEvent, onHttp } from './acme.ts'
import { mountAccount } from './screens/account.ts'
import { mountCsr } from './screens/csr.ts'
import { mountInspector } from './screens/inspector.ts'
import { mountOrder } from './screens/order.ts'
import { mountRevoke } from './screens/revoke.ts'
import { createStore, readLocalConfig, type State } from './state.ts'
import { byId, h } from './ui.ts'

const SCREENS = ['account', 'csr', 'order', 'inspect', 'revoke'] as const
/** A public resolver that answers browsers (CORS) in the JSON format. */
const PUBLIC_DOH = { url: 'https://cloudflare-dns.com/dns-query', format: 'json' } as const

function currentScreen(): string {
  const wanted = location.hash.slice(1)
  return (SCREENS as readonly string[]).includes(wanted) ? wanted : 'account'
}

function showScreen(focus: boolean): void {
  const screen = currentScreen()
  for (const id of SCREENS) byId<'section'>(id).hidden = id !== screen
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#${screen}`) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  if (focus) byId<'h2'>(`${screen}-title`).focus()
}

function mountLog(): void {
  const count = byId<'span'>('log-count')
  const list = byId<'ol'>('log-list')
  let n = 0
  onHttp((event: HttpEvent) => {
    n++
    count.textContent = String(n)
    const url = new URL(event.url)
    const outcome = [event.status, event.error].filter((x) => x !== undefined).join(' ') || 'failed'
    list.append(
      h(
        'li',
        { 'data-status': String(event.status ?? 'none'), 'data-source': event.kind.toLowerCase() },
        h('span', { class: 'kind' }, event.kind),
        ' ',
        h('span', { class: 'method' }, event.method),
        ' ',
        h('span', { class: 'url' }, `${url.host}${url.pathname}`),
        ' ',
        h('span', { class: 'outcome' }, outcome),
        ` ${event.ms} ms`,
        event.attempt !== undefined && event.attempt > 1 ? ` (attempt ${event.attempt})` : '',
      ),
    )
  })
}

function renderCaLine(state: State): void {
  const line = byId<'p'>('ca-line')
  const preset = caPresets(state.local.pebbleUrl).find((p) => p.url === state.directoryUrl)
  const account = state.account?.accountUrl ? `account ${state.account.status ?? ''}` : 'no account'
  line.textContent = `CA: ${preset?.label ?? state.directoryUrl} · ${state.account ? account : 'no key'}`
}

function main(): void {
  const local = readLocalConfig()
  const store = createStore({
    directoryUrl: local.directoryUrl ?? caPresets(undefined)[0]!.url,
    directory: undefined,
    eab: { kid: '', hmacKey: '' },
    account: undefined,
    doh: local.dohUrl ? { url: local.dohUrl, format: local.dohFormat ?? 'wire' } : { ...PUBLIC_DOH },
    issued: undefined,
    local,
  })
  store.subscribe(renderCaLine)
  mountLog()
  mountAccount(store)
  mountCsr()
  mountOrder(store)
  mountInspector(store)
  mountRevoke(store)
  showScreen(false)
  addEventListener('hashchange', () => showScreen(true))
  // The skip link goes to the screen on show, without touching the fragment that selects it.
  document.querySelector('a.skip')?.addEventListener('click', (event) => {
    event.preventDefault()
    byId<'h2'>(`${currentScreen()}-title`).focus()
  })
  document.body.dataset.ready = 'true'
}

main()
