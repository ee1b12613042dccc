/**
 * The page's state: which CA, its directory, the account at it, the DNS-over-HTTPS resolver, and the last
 * certificate issued (so the inspector and the revocation screen can take it over). Screens read it with
 * `get()`, change it with `set()`, and re-render on `subscribe()`. Account keys persist in IndexedDB
 * (keystore.ts); everything else lives as long as the tab.
 */
import type { Directory } from 'webacme'
import type { AccountRecord } from './keystore.ts'

/** Settings the local server (`npm run playground`) writes into the page; absent when served elsewhere. */
export interface LocalConfig {
  /** The CA the page starts with (`--directory`, or the local Pebble). */
  directoryUrl?: string
  /** Directory URL of the local Pebble, for the "Local Pebble" choice. */
  pebbleUrl?: string
  /** DNS-over-HTTPS endpoint that sees the local DNS (dnsdist in front of pebble-challtestsrv). */
  dohUrl?: string
  dohFormat?: 'wire' | 'json'
  /** Where the server offers the CA certificate that Pebble's TLS chains to. */
  caCertUrl?: string
}

/** A certificate the order screen issued in this tab. */
export interface IssuedCertificate {
  chainPem: string
  keyPem: string
  names: string[]
}

export interface State {
  directoryUrl: string
  /** The directory of `directoryUrl`, once loaded. */
  directory: Directory | undefined
  /** External account binding credentials typed by the user (ZeroSSL, Google). */
  eab: { kid: string; hmacKey: string }
  /** The account record of `directoryUrl` (its key at least), if any. */
  account: AccountRecord | undefined
  doh: { url: string; format: 'wire' | 'json' }
  issued: IssuedCertificate | undefined
  local: LocalConfig
}

type Listener = (state: State) => void

export interface Store {
  get(): State
  set(patch: Partial<State>): void
  subscribe(listener: Listener): void
}

/** A store that calls every listener after each change. */
export function createStore(initial: State): Store {
  let state = initial
  const listeners: Listener[] = []
  return {
    get: () => state,
    set(patch) {
      state = { ...state, ...patch }
      for (const listener of listeners) listener(state)
    },
    subscribe(listener) {
      listeners.push(listener)
    },
  }
}

/** The local configuration the server may have put in the page as JSON (no script, only data). */
export function readLocalConfig(): LocalConfig {
  const el = document.getElementById('webacme-local-config')
  if (!el?.textContent) return {}
  try {
    const value: unknown = JSON.parse(el.textContent)
    return typeof value === 'object' && value !== null ? (value as LocalConfig) : {}
  } catch {
    return {}
  }
}
