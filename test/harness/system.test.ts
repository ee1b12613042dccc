import { afterEach, describe, expect, it } from 'vitest'
import { SETUP_BINARIES_ENV, systemBinary } from './system.ts'

describe('systemBinary', () => {
  const saved = process.env[SETUP_BINARIES_ENV]
  afterEach(() => {
    if (saved === undefined) delete process.env[SETUP_BINARIES_ENV]
    else process.env[SETUP_BINARIES_ENV] = saved
  })

  it("refuses a binary the test step's setup does not install, even when this machine has it", () => {
    // `sh` is on every machine; a step declaring only openssl must still not get it.
    process.env[SETUP_BINARIES_ENV] = 'openssl'
    expect(() => systemBinary('sh')).toThrow(/does not install it .*installs: openssl.*scripts\/test\.mjs/s)
  })

  it('gives the path of a declared binary, and says how to install a missing one', () => {
    process.env[SETUP_BINARIES_ENV] = 'sh,no-such-binary-webacme'
    expect(systemBinary('sh')).toMatch(/\/sh$/)
    expect(() => systemBinary('no-such-binary-webacme')).toThrow(/is not installed/)
  })
})
