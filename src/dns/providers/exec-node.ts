/// <reference types="node" />
/**
 * dns-01 through a program of your own: the hook scripts you already have for lego or certbot. Uses
 * `node:child_process` (Node, Bun and Deno all provide it), hence its own subpath and `node` in the file name.
 *
 * - {@link execAdapter} runs `program present <fqdn> <value>` and `program cleanup <fqdn> <value>`, the arguments
 *   lego's `exec` provider passes (`EXEC_PATH`): the record name with its trailing dot, and the TXT value. The
 *   program is run directly, without a shell.
 * - {@link certbotHookAdapter} runs certbot-style `--manual-auth-hook` / `--manual-cleanup-hook` commands through
 *   `/bin/sh -c` with certbot's environment: `CERTBOT_DOMAIN` (the name being validated, without `*.`),
 *   `CERTBOT_VALIDATION` (the TXT value), `CERTBOT_REMAINING_CHALLENGES`, `CERTBOT_ALL_DOMAINS` (comma separated),
 *   and for the cleanup hook `CERTBOT_AUTH_OUTPUT` (what the auth hook printed). `CERTBOT_TOKEN` is certbot's
 *   http-01 file name; these hooks answer dns-01 only, so it is set to the empty string.
 *
 * Hooks run one at a time, in call order (the scripts edit one zone; certbot and lego run them one after
 * another too). A non-zero exit is a `DnsProviderError` (`ERR_DNS_PROVIDER`) carrying the end of the program's
 * stderr; a hook that runs past `timeout`, or whose call is aborted, is killed with its process group.
 *
 * @see {@link https://go-acme.github.io/lego/dns/exec/ lego's exec provider}
 * @see {@link https://eff-certbot.readthedocs.io/en/stable/using.html#hooks certbot's manual hooks}
 *
 * @module webacme/dns/exec
 */
import { spawn } from 'node:child_process'
import { InvalidArgumentError } from '../../errors.ts'
import { throwIfAborted } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { canonicalName } from '../zone.ts'

/** What every exec adapter takes. */
export interface ExecHookOptions {
  /** Environment of the hook (default: this process's environment). Values `undefined` are left out. */
  env?: Record<string, string | undefined>
  /** Working directory of the hook (default: this process's). */
  cwd?: string
  /** Milliseconds one hook may run before it is killed (default 120 000). */
  timeout?: number
  /** Bytes of the hook's stderr kept for the error message (default 4096: the end of it). */
  maxStderr?: number
}

/** Options of {@link execAdapter}. */
export interface ExecAdapterOptions extends ExecHookOptions {
  /** The program (lego's `EXEC_PATH`): run as `program present|cleanup <fqdn> <value>`, without a shell. */
  program: string
}

/** Options of {@link certbotHookAdapter}. */
export interface CertbotHookAdapterOptions extends ExecHookOptions {
  /** certbot's `--manual-auth-hook`: a shell command run with `CERTBOT_DOMAIN` and `CERTBOT_VALIDATION`. */
  authHook: string
  /** certbot's `--manual-cleanup-hook` (optional, as in certbot). */
  cleanupHook?: string
  /**
   * The names of the certificate (`CERTBOT_ALL_DOMAINS`; `CERTBOT_REMAINING_CHALLENGES` counts down from them).
   * Default: the name of each challenge alone.
   */
  allDomains?: readonly string[]
  /** The shell (default `/bin/sh`). */
  shell?: string
}

const PROVIDER = 'exec'
const DEFAULT_TIMEOUT = 120_000
const DEFAULT_MAX_STDERR = 4096
/** stdout kept for `CERTBOT_AUTH_OUTPUT`. */
const MAX_STDOUT = 64 * 1024

interface HookRun {
  command: string
  args: string[]
  env: Record<string, string | undefined>
  /** For messages: `present _acme-challenge.example.com.` */
  what: string
}

function tail(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max)}` : text
}

function hookError(message: string, init: { cause?: unknown; providerCode?: string } = {}): DnsProviderError {
  return new DnsProviderError('ERR_DNS_PROVIDER', message, { provider: PROVIDER, ...init })
}

/** Kills the hook and whatever it started (it leads its own process group). */
function killTree(pid: number | undefined, kill: () => void): void {
  try {
    if (pid === undefined) throw new Error('no pid')
    process.kill(-pid, 'SIGKILL')
  } catch {
    kill()
  }
}

/** Runs one hook; resolves to its stdout, rejects with a DnsProviderError or the signal's reason. */
function runHook(
  run: HookRun,
  options: ExecHookOptions,
  signal: AbortSignalLike | undefined,
): Promise<string> {
  throwIfAborted(signal)
  const timeout = options.timeout ?? DEFAULT_TIMEOUT
  const maxStderr = options.maxStderr ?? DEFAULT_MAX_STDERR
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(run.env)) if (v !== undefined) env[k] = v
  return new Promise<string>((resolve, reject) => {
    let child: ReturnType<typeof spawn>
    try {
      child = spawn(run.command, run.args, {
        env,
        ...(options.cwd !== undefined && { cwd: options.cwd }),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
    } catch (err) {
      reject(hookError(`exec: cannot run ${run.command}: ${(err as Error).message}`, { cause: err }))
      return
    }
    let stdout = ''
    let stderr = ''
    let settled = false
    let stopped: 'timeout' | 'abort' | undefined
    const stop = (why: 'timeout' | 'abort') => {
      if (stopped || settled) return
      stopped = why
      killTree(child.pid, () => child.kill('SIGKILL'))
    }
    const timer = setTimeout(() => stop('timeout'), timeout)
    const onAbort = () => stop('abort')
    signal?.addEventListener('abort', onAbort)
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      fn()
    }
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < MAX_STDOUT) stdout += chunk
    })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = tail(stderr + chunk, maxStderr * 2)
    })
    child.once('error', (err) =>
      finish(() => reject(hookError(`exec: cannot run ${run.command}: ${err.message}`, { cause: err }))),
    )
    child.once('close', (code, sig) =>
      finish(() => {
        const said = tail(stderr.trim(), maxStderr)
        if (stopped === 'abort') return reject(signal?.reason ?? new DOMException('aborted', 'AbortError'))
        if (stopped === 'timeout') {
          return reject(
            hookError(
              `exec: ${run.command} ${run.what} did not finish within ${timeout} ms and was killed${said ? `: ${said}` : ''}`,
            ),
          )
        }
        if (code === 0) return resolve(stdout.slice(0, MAX_STDOUT))
        const how = code === null ? `was killed by ${sig}` : `exited with status ${code}`
        reject(
          hookError(`exec: ${run.command} ${run.what} ${how}${said ? `: ${said}` : ''}`, {
            providerCode: code === null ? String(sig) : String(code),
          }),
        )
      }),
    )
  })
}

function checkHookOptions(options: ExecHookOptions, factory: string): void {
  if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
    throw new InvalidArgumentError(`${factory}: timeout must be a positive number of milliseconds`)
  }
}

/**
 * A {@link DnsAdapter} that runs `program present <fqdn> <value>` to add a TXT value and `program cleanup <fqdn>
 * <value>` to remove it, like lego's `exec` provider (`EXEC_PATH`). `<fqdn>` ends with a dot
 * (`_acme-challenge.example.com.`).
 *
 * @example
 * ```ts
 * import { dns01Solver } from 'webacme'
 * import { execAdapter } from 'webacme/dns/exec'
 *
 * const solver = dns01Solver({ adapter: execAdapter({ program: '/usr/local/bin/update-dns.sh' }) })
 * console.log(solver.type) // dns-01
 * ```
 */
export function execAdapter(options: ExecAdapterOptions): DnsAdapter {
  if (!options?.program) throw new InvalidArgumentError('execAdapter needs program')
  checkHookOptions(options, 'execAdapter')
  const queue = keyedQueue()
  const call = (action: 'present' | 'cleanup', name: string, value: string, opts: DnsCallOptions) => {
    const fqdn = `${canonicalName(name)}.`
    return queue(
      '',
      async () => {
        await runHook(
          {
            command: options.program,
            args: [action, fqdn, value],
            env: options.env ?? process.env,
            what: `${action} ${fqdn}`,
          },
          options,
          opts.signal,
        )
      },
      opts.signal,
    )
  }
  return {
    name: PROVIDER,
    createTxt: (name, value, opts = {}) => call('present', name, value, opts),
    removeTxt: (name, value, opts = {}) => call('cleanup', name, value, opts),
  }
}

/**
 * A {@link DnsAdapter} that runs certbot-style manual hooks: `authHook` to add a TXT value, `cleanupHook` to
 * remove it, each through the shell with certbot's `CERTBOT_*` variables, so that scripts written for
 * `certbot --manual --preferred-challenges dns --manual-auth-hook ... --manual-cleanup-hook ...` work unchanged.
 *
 * @example
 * ```ts
 * import { dns01Solver } from 'webacme'
 * import { certbotHookAdapter } from 'webacme/dns/exec'
 *
 * const adapter = certbotHookAdapter({
 *   authHook: '/etc/letsencrypt/dns-auth.sh',
 *   cleanupHook: '/etc/letsencrypt/dns-cleanup.sh',
 *   allDomains: ['example.com', '*.example.com'],
 * })
 * console.log(dns01Solver({ adapter }).type) // dns-01
 * ```
 */
export function certbotHookAdapter(options: CertbotHookAdapterOptions): DnsAdapter {
  if (!options?.authHook) throw new InvalidArgumentError('certbotHookAdapter needs authHook')
  checkHookOptions(options, 'certbotHookAdapter')
  const queue = keyedQueue()
  const shell = options.shell ?? '/bin/sh'
  const allDomains = options.allDomains?.length ? [...options.allDomains] : undefined
  /** What each auth hook printed, for CERTBOT_AUTH_OUTPUT of its cleanup. */
  const outputs = new Map<string, string>()
  let presented = 0

  const run = (
    hook: string,
    name: string,
    value: string,
    extra: Record<string, string>,
    signal?: AbortSignalLike,
  ) => {
    const domain = canonicalName(name).replace(/^_acme-challenge\./, '')
    const env = {
      ...(options.env ?? process.env),
      CERTBOT_DOMAIN: domain,
      CERTBOT_VALIDATION: value,
      CERTBOT_TOKEN: '',
      CERTBOT_ALL_DOMAINS: (allDomains ?? [domain]).join(','),
      ...extra,
    }
    return runHook({ command: shell, args: ['-c', hook], env, what: `for ${domain}` }, options, signal)
  }

  return {
    name: PROVIDER,
    createTxt: (name, value, opts = {}) =>
      queue(
        '',
        async () => {
          // certbot counts the challenges left after this one; a reused authorization needs none, so with
          // `allDomains` the count can end above 0.
          const remaining = Math.max(0, (allDomains?.length ?? 1) - presented - 1)
          const output = await run(
            options.authHook,
            name,
            value,
            { CERTBOT_REMAINING_CHALLENGES: String(remaining) },
            opts.signal,
          )
          presented++
          outputs.set(`${canonicalName(name)} ${value}`, output)
        },
        opts.signal,
      ),
    removeTxt: (name, value, opts = {}) =>
      queue(
        '',
        async () => {
          const key = `${canonicalName(name)} ${value}`
          const output = outputs.get(key) ?? ''
          outputs.delete(key)
          if (options.cleanupHook === undefined) return
          await run(
            options.cleanupHook,
            name,
            value,
            { CERTBOT_AUTH_OUTPUT: output.replace(/\n$/, ''), CERTBOT_REMAINING_CHALLENGES: '0' },
            opts.signal,
          )
        },
        opts.signal,
      ),
  }
}
