// The exec adapters against real shell scripts: arguments and environment as lego and certbot pass them, a
// failing hook, a hook that hangs (killed with what it started), and an abort.
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { isDnsProviderError } from '../errors.ts'
import { certbotHookAdapter, execAdapter } from './exec-node.ts'

let dir: string

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

async function gone(pid: number): Promise<void> {
  // Hang guard only: the test's own timeout ends it; the kill is what is awaited.
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'webacme-exec-'))
})

describe('execAdapter (lego exec)', () => {
  it('runs program present|cleanup <fqdn with dot> <value>, one at a time', async () => {
    const log = join(dir, 'lego.log')
    const program = await script('lego.sh', `echo "$# $1 $2 $3" >> '${log}'`)
    const adapter = execAdapter({ program })
    await Promise.all([
      adapter.createTxt('_acme-challenge.Example.com', 'v1'),
      adapter.createTxt('_acme-challenge.example.com.', 'v2'),
    ])
    await adapter.removeTxt('_acme-challenge.example.com', 'v1')
    expect(await readFile(log, 'utf8')).toBe(
      [
        '3 present _acme-challenge.example.com. v1',
        '3 present _acme-challenge.example.com. v2',
        '3 cleanup _acme-challenge.example.com. v1',
        '',
      ].join('\n'),
    )
  })

  it('a non-zero exit is ERR_DNS_PROVIDER with the end of stderr', async () => {
    const program = await script('fail.sh', `echo "${'x'.repeat(50)}" >&2; echo 'zone is locked' >&2; exit 3`)
    const err = await execAdapter({ program, maxStderr: 20 })
      .createTxt('_acme-challenge.a.test', 'v')
      .catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(err).toMatchObject({ provider: 'exec', providerCode: '3' })
    expect((err as Error).message).toContain('exited with status 3')
    expect((err as Error).message).toContain('zone is locked')
    expect((err as Error).message).not.toContain('x'.repeat(30))
  })

  it('a missing program is ERR_DNS_PROVIDER naming it', async () => {
    const err = await execAdapter({ program: join(dir, 'nope.sh') })
      .createTxt('_acme-challenge.a.test', 'v')
      .catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect((err as Error).message).toContain('nope.sh')
  })

  it('a hook past its timeout is killed with the processes it started', async () => {
    const pidFile = join(dir, 'hang.pid')
    const program = await script('hang.sh', `sleep 1000 & echo $! > '${pidFile}'; wait`)
    const err = await execAdapter({ program, timeout: 300 })
      .createTxt('_acme-challenge.a.test', 'v')
      .catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect((err as Error).message).toContain('did not finish within 300 ms')
    await gone(Number((await readFile(pidFile, 'utf8')).trim()))
  })

  it('an abort kills the hook and rejects with the reason', async () => {
    const started = join(dir, 'abort.pid')
    const program = await script(
      'abort.sh',
      `echo $$ > '${started}.tmp'; mv '${started}.tmp' '${started}'; sleep 1000`,
    )
    const controller = new AbortController()
    const pending = execAdapter({ program }).createTxt('_acme-challenge.a.test', 'v', {
      signal: controller.signal,
    })
    let pid: number | undefined
    while (pid === undefined) {
      pid = await readFile(started, 'utf8').then(
        (t) => Number(t.trim()),
        () => undefined,
      )
      if (pid === undefined) await new Promise((r) => setTimeout(r, 20))
    }
    controller.abort(new DOMException('stop', 'AbortError'))
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    await gone(pid)
  })

  it('refuses bad options', () => {
    expect(() => execAdapter({ program: '' })).toThrow(/program/)
    expect(() => execAdapter({ program: 'x', timeout: 0 })).toThrow(/timeout/)
  })
})

describe('certbotHookAdapter (certbot --manual-auth-hook)', () => {
  it("passes certbot's variables and the auth hook's output to the cleanup hook", async () => {
    const log = join(dir, 'certbot.log')
    const show =
      'echo "$0 domain=$CERTBOT_DOMAIN validation=$CERTBOT_VALIDATION token=[$CERTBOT_TOKEN] remaining=$CERTBOT_REMAINING_CHALLENGES all=$CERTBOT_ALL_DOMAINS output=[$CERTBOT_AUTH_OUTPUT]"'
    const auth = await script(
      'auth.sh',
      `${show.replace('$0', 'auth')} >> '${log}'; echo "id-$CERTBOT_VALIDATION"`,
    )
    const cleanup = await script('cleanup.sh', `${show.replace('$0', 'cleanup')} >> '${log}'`)
    const adapter = certbotHookAdapter({
      authHook: `'${auth}'`,
      cleanupHook: `'${cleanup}'`,
      allDomains: ['example.com', '*.example.com'],
    })
    await adapter.createTxt('_acme-challenge.example.com', 'v1')
    await adapter.createTxt('_acme-challenge.example.com', 'v2')
    await adapter.removeTxt('_acme-challenge.example.com', 'v2')
    await adapter.removeTxt('_acme-challenge.example.com', 'v1')
    expect((await readFile(log, 'utf8')).split('\n')).toEqual([
      'auth domain=example.com validation=v1 token=[] remaining=1 all=example.com,*.example.com output=[]',
      'auth domain=example.com validation=v2 token=[] remaining=0 all=example.com,*.example.com output=[]',
      'cleanup domain=example.com validation=v2 token=[] remaining=0 all=example.com,*.example.com output=[id-v2]',
      'cleanup domain=example.com validation=v1 token=[] remaining=0 all=example.com,*.example.com output=[id-v1]',
      '',
    ])
  })

  it('a failing auth hook is ERR_DNS_PROVIDER; no cleanup hook is fine', async () => {
    const adapter = certbotHookAdapter({ authHook: 'echo "no API token" >&2; exit 1' })
    await expect(adapter.createTxt('_acme-challenge.a.test', 'v')).rejects.toMatchObject({
      code: 'ERR_DNS_PROVIDER',
      message: expect.stringContaining('no API token'),
    })
    await adapter.removeTxt('_acme-challenge.a.test', 'v')
  })
})
