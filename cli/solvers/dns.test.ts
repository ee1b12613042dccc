import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from '../exit-codes.ts'
import { Reporter } from '../output.ts'
import { DNS_PROVIDERS, dnsAdapter } from './dns.ts'

const reporter = new Reporter({ json: false, verbose: false, quiet: true, stderr: { write: () => true } })
let program: string
let plain: string

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'webacme-cli-dns-'))
  program = join(dir, 'hook.sh')
  plain = join(dir, 'not-executable.sh')
  await writeFile(program, '#!/bin/sh\nexit 0\n')
  await chmod(program, 0o755)
  await writeFile(plain, '#!/bin/sh\nexit 0\n')
})

describe('--dns exec', () => {
  it('needs EXEC_PATH, an executable file, and no EXEC_MODE (RAW is refused, not misread)', async () => {
    await expect(dnsAdapter('exec', {}, reporter)).rejects.toThrow(/EXEC_PATH/)
    await expect(dnsAdapter('exec', { EXEC_PATH: plain }, reporter)).rejects.toThrow(UsageError)
    await expect(dnsAdapter('exec', { EXEC_PATH: program, EXEC_MODE: 'RAW' }, reporter)).rejects.toThrow(
      /EXEC_MODE=RAW is not supported/,
    )
    expect((await dnsAdapter('exec', { EXEC_PATH: program }, reporter)).name).toBe('exec')
  })

  it('EXEC_PROPAGATION_TIMEOUT and EXEC_POLLING_INTERVAL are seconds, as in lego', () => {
    const propagation = DNS_PROVIDERS.exec!.propagation!
    expect(propagation({ EXEC_PROPAGATION_TIMEOUT: '300', EXEC_POLLING_INTERVAL: '5' })).toEqual({
      timeout: 300_000,
      interval: 5_000,
    })
    expect(propagation({})).toEqual({})
    expect(() => propagation({ EXEC_POLLING_INTERVAL: '2s' })).toThrow(UsageError)
  })
})
