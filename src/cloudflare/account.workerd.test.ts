/**
 * AcmeAccountCore in a real Durable Object (test/cloudflare/worker.ts: TestAccount, limits TEST_LIMITS: 3 pending
 * authorizations, 4 new orders per minute), called through its stub as a consumer would, with storage that
 * survives `abortAllDurableObjects()` (the object's memory does not).
 */
import { abortAllDurableObjects, runDurableObjectAlarm } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { accountStub, insideAccount } from '../../test/cloudflare/helpers.ts'
import type { TestAccount, TestAccountStub } from '../../test/cloudflare/worker.ts'
import type { PresentedChallenge } from '../challenges/presented.ts'

const T = Date.parse('2030-01-01T00:00:00Z')
let unique = 0
const accountName = () => `account-${Date.now().toString(36)}-${++unique}`
const account = (name = accountName()) => accountStub(name)
const issue = (name: string, authorizations = 1) => ({
  kind: 'issue' as const,
  authorizations,
  newOrder: true,
  wakeMessage: { name },
})
const presented = (url: string): PresentedChallenge => ({
  type: 'http-01',
  context: {
    authorization: {
      url: `${url}/authz`,
      status: 'pending',
      identifier: { type: 'dns', value: 'a.test' },
      challenges: [],
    },
    challenge: { url, type: 'http-01', status: 'pending', token: 'tok' },
    identifier: { type: 'dns', value: 'a.test' },
    keyAuthorization: 'tok.thumb',
    accountUrl: 'https://ca.test/acct/1',
  } as PresentedChallenge['context'],
})
const woken = (stub: TestAccountStub) => insideAccount(stub, (o: TestAccount) => o.woken.splice(0))

describe('jobs', () => {
  it('creates a job once, refuses the same name for other identifiers, and resets a failed one', async () => {
    const a = account()
    const first = await a.createJob({
      name: 'x',
      identifiers: ['x.test', 'www.x.test'],
      challenge: 'http-01',
    })
    expect(first).toMatchObject({ created: true, job: { status: 'pending', epoch: 0, presented: [] } })
    expect(
      await a.createJob({ name: 'x', identifiers: ['www.x.test', 'x.test'], challenge: 'http-01' }),
    ).toMatchObject({
      created: false,
    })
    expect(await a.createJob({ name: 'x', identifiers: ['y.test'], challenge: 'http-01' })).toMatchObject({
      conflict: { name: 'x' },
    })
    const run = await a.begin('x', issue('x', 2))
    if (!('run' in run)) throw new Error(JSON.stringify(run))
    await a.finish('x', run.run.epoch, {
      status: 'failed',
      error: { code: 'ERR_ACME_CAA', message: 'no', at: new Date(T).toISOString() },
    })
    expect(await a.getJob('x')).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 'ERR_ACME_CAA' },
    })
    expect(await a.begin('x', issue('x', 2))).toEqual({ skip: 'failed' })
    expect(
      await a.createJob({ name: 'x', identifiers: ['x.test', 'www.x.test'], challenge: 'http-01' }),
    ).toMatchObject({
      created: true,
      job: { status: 'pending', attempts: 0 },
    })
  })

  it('runs a job under a lease and an epoch: a second run is refused, a superseded one is fenced off', async () => {
    const a = account()
    await a.setNow(T)
    await a.createJob({ name: 'j', identifiers: ['j.test'], challenge: 'http-01' })
    const run = await a.begin('j', issue('j'))
    expect(run).toMatchObject({ run: { epoch: 1, job: { status: 'processing', kind: 'issue' } } })
    expect(await a.begin('j', issue('j'))).toEqual({ skip: 'busy' })
    expect(await a.record('j', 1, { orderUrl: 'https://ca.test/order/1' })).toBe(true)
    expect(await a.record('j', 1, { present: presented('https://ca.test/chall/1') })).toBe(true)
    expect(await a.record('j', 1, { present: presented('https://ca.test/chall/2') })).toBe(true)
    expect(await a.record('j', 1, { cleaned: presented('https://ca.test/chall/1') })).toBe(true)
    const job = await a.getJob('j')
    expect(job?.orderUrl).toBe('https://ca.test/order/1')
    expect(job?.presented.map((p) => p.context.challenge.url)).toEqual(['https://ca.test/chall/2'])
    // Several changes in one write, applied in order.
    expect(
      await a.record('j', 1, [
        { present: presented('https://ca.test/chall/3') },
        { cleaned: presented('https://ca.test/chall/2') },
      ]),
    ).toBe(true)
    expect((await a.getJob('j'))?.presented.map((p) => p.context.challenge.url)).toEqual([
      'https://ca.test/chall/3',
    ])
    // The lease ran out without a write (60 s in the test object): another run takes over with a new epoch.
    await a.setNow(T + 61_000)
    const second = await a.begin('j', issue('j'))
    expect(second).toMatchObject({ run: { epoch: 2, job: { orderUrl: 'https://ca.test/order/1' } } })
    expect(await a.record('j', 1, { orderUrl: 'https://ca.test/order/other' })).toBe(false)
    expect(await a.finish('j', 1, { status: 'unchanged' })).toBe(false)
    const valid = {
      status: 'valid' as const,
      certificate: { serialNumber: '01', notBefore: 'a', notAfter: 'b', renewAt: 'c' },
    }
    expect(await a.finish('j', 2, valid)).toBe(true)
    expect(await a.getJob('j')).toMatchObject({
      status: 'valid',
      attempts: 0,
      renewals: 0,
      certificate: { serialNumber: '01' },
    })
    expect((await a.getJob('j'))?.orderUrl).toBeUndefined()
    expect(await a.begin('j', issue('j'))).toEqual({ skip: 'done' })
    // A renewal runs on a job with a certificate, and keeps it valid throughout.
    const renewal = await a.begin('j', { ...issue('j'), kind: 'renew' })
    expect(renewal).toMatchObject({ run: { epoch: 3, job: { status: 'valid', kind: 'renew' } } })
    await a.finish('j', 3, { ...valid, certificate: { ...valid.certificate, serialNumber: '02' } })
    expect(await a.getJob('j')).toMatchObject({
      status: 'valid',
      renewals: 1,
      certificate: { serialNumber: '02' },
    })
  })

  it('a deleted job fences its run off and frees its room', async () => {
    const a = account()
    await a.createJob({ name: 'd', identifiers: ['d.test'], challenge: 'http-01' })
    const run = await a.begin('d', issue('d', 3))
    if (!('run' in run)) throw new Error('no run')
    expect(await insideAccount(a, (o: TestAccount) => o.core.budget.held)).toBe(3)
    await insideAccount(a, (o: TestAccount) => o.core.deleteJob('d'))
    expect(await a.record('d', run.run.epoch, { orderUrl: 'https://ca.test/order/9' })).toBe(false)
    expect(await insideAccount(a, (o: TestAccount) => o.core.budget.held)).toBe(0)
    expect(await a.getJob('d')).toBeUndefined()
  })
})

describe('defaults, renewals, dead letters', () => {
  it('counts a job’s identifiers as its authorizations, and a job with an order as no new order', async () => {
    const a = account()
    await a.setNow(T)
    await a.createJob({ name: 'big', identifiers: ['1.test', '2.test', '3.test'], challenge: 'http-01' })
    await a.createJob({ name: 'one', identifiers: ['4.test'], challenge: 'http-01' })
    const big = await a.begin('big', { kind: 'issue', wakeMessage: 'big' })
    expect(await insideAccount(a, (o: TestAccount) => o.core.budget.held)).toBe(3)
    expect(await a.begin('one', { kind: 'issue', wakeMessage: 'one' })).toMatchObject({
      wait: { reason: 'pending-authorizations' },
    })
    if (!('run' in big)) throw new Error('no run')
    await a.record('big', big.run.epoch, { orderUrl: 'https://ca.test/order/1' })
    await a.finish('big', big.run.epoch, { status: 'retry', error: { message: 'x', at: 'y' } })
    expect(await woken(a)).toEqual(['one'])
    const one = await a.begin('one', { kind: 'issue', wakeMessage: 'one' })
    if (!('run' in one)) throw new Error('no run for one')
    await a.finish('one', one.run.epoch, { status: 'retry', error: { message: 'x', at: 'y' } })
    // Four orders in the window (TEST_LIMITS): fill it, then a job with an order to resume still runs.
    await insideAccount(a, async (o: TestAccount) => {
      for (const n of ['w1', 'w2', 'w3', 'w4']) {
        o.core.budget.acquire(n, { authorizations: 0 }, T)
        o.core.budget.release(n)
      }
    })
    expect(await a.begin('big', { kind: 'issue', wakeMessage: 'big' })).toMatchObject({ run: {} })
  })

  it('lists certificates due by a time, or due for a renewal-information check, and none a run holds', async () => {
    const a = account()
    await a.setNow(T)
    const cert = (renewAt: number, checkAt?: number) => ({
      status: 'valid' as const,
      certificate: {
        serialNumber: '1',
        notBefore: new Date(T).toISOString(),
        notAfter: new Date(T + 90 * 86400_000).toISOString(),
        renewAt: new Date(renewAt).toISOString(),
        ...(checkAt !== undefined && { checkAt: new Date(checkAt).toISOString() }),
      },
    })
    for (const [name, result] of [
      ['early', cert(T + 1000)],
      ['late', cert(T + 5000)],
      ['check', cert(T + 9000, T + 2000)],
    ] as const) {
      await a.createJob({ name, identifiers: [`${name}.test`], challenge: 'http-01' })
      const run = await a.begin(name, { kind: 'issue', wakeMessage: name })
      if (!('run' in run)) throw new Error('no run')
      await a.finish(name, run.run.epoch, result)
    }
    await a.createJob({ name: 'none', identifiers: ['none.test'], challenge: 'http-01' })
    expect(await a.dueForRenewal(T)).toEqual([])
    expect(await a.dueForRenewal(T + 2000)).toEqual(['check', 'early'])
    expect(await a.dueForRenewal(T + 5000)).toEqual(['check', 'early', 'late'])
    // A renewal is a new order: let the window (4 per minute) slide past the three issuances first.
    await a.setNow(T + 61_000)
    await a.begin('late', { kind: 'renew', wakeMessage: 'late' })
    expect(await a.dueForRenewal(T + 5000)).toEqual(['check', 'early'])
    // A renewal that was not due moves the schedule; one that failed keeps the certificate and shows the error.
    const run = await a.begin('early', { kind: 'renew', wakeMessage: 'early' })
    if (!('run' in run)) throw new Error('no run')
    await a.finish('early', run.run.epoch, {
      status: 'unchanged',
      schedule: { renewAt: new Date(T + 7000).toISOString() },
      error: { code: 'ERR_ACME_CAA', message: 'no', at: 'now' },
    })
    expect(await a.getJob('early')).toMatchObject({
      status: 'valid',
      error: { code: 'ERR_ACME_CAA' },
      certificate: { renewAt: new Date(T + 7000).toISOString() },
    })
  })

  it('marks a dead-lettered job failed and fences its run off; one with a certificate stays valid', async () => {
    const a = account()
    await a.createJob({ name: 'dead', identifiers: ['dead.test'], challenge: 'http-01' })
    const run = await a.begin('dead', { kind: 'issue', wakeMessage: 'dead' })
    if (!('run' in run)) throw new Error('no run')
    await a.markFailed('dead', { code: 'ERR_DEAD_LETTER', message: 'gave up', at: 'now' })
    expect(await a.getJob('dead')).toMatchObject({ status: 'failed', error: { code: 'ERR_DEAD_LETTER' } })
    expect(await a.record('dead', run.run.epoch, { orderUrl: 'https://ca.test/order/2' })).toBe(false)
    expect(await insideAccount(a, (o: TestAccount) => o.core.budget.held)).toBe(0)
  })
})

describe('budget in the account object', () => {
  it("counts a failed run against the job's attempts, unless the CA never answered it (attempt: false)", async () => {
    const a = account()
    await a.createJob({ name: 'r', identifiers: ['r.test'], challenge: 'http-01' })
    const error = { code: 'ERR_CA_UNAVAILABLE', message: 'the CA did not answer', at: 'y' }
    for (const attempt of [true, false, undefined, false]) {
      const run = await a.begin('r', issue('r'))
      if (!('run' in run)) throw new Error(JSON.stringify(run))
      await a.finish('r', run.run.epoch, {
        status: 'retry',
        error,
        ...(attempt !== undefined && { attempt }),
      })
    }
    // Two counted (true and the default), two not.
    expect(await a.getJob('r')).toMatchObject({ status: 'pending', attempts: 2, error })
  })

  it('makes jobs wait for pending authorizations and wakes them, in order, as runs finish', async () => {
    const a = account()
    await a.setNow(T)
    for (const name of ['a', 'b', 'c', 'd'])
      await a.createJob({ name, identifiers: [`${name}.test`], challenge: 'http-01' })
    const ra = await a.begin('a', issue('a', 2))
    const rb = await a.begin('b', issue('b', 1))
    expect(await a.begin('c', issue('c', 1))).toEqual({
      wait: { granted: false, reason: 'pending-authorizations', retryAt: undefined },
    })
    expect(await a.begin('d', issue('d', 1))).toMatchObject({ wait: { granted: false } })
    expect(await woken(a)).toEqual([])
    if (!('run' in ra) || !('run' in rb)) throw new Error('no run')
    await a.finish('b', rb.run.epoch, { status: 'retry', error: { message: 'x', at: 'y' } })
    // b freed one authorization: c, first in line, is woken with the message it left.
    expect(await woken(a)).toEqual([{ name: 'c' }])
    expect(await a.begin('c', issue('c', 1))).toMatchObject({ run: { epoch: 1 } })
    await a.finish('a', ra.run.epoch, { status: 'retry', error: { message: 'x', at: 'y' } })
    expect(await woken(a)).toEqual([{ name: 'd' }])
  })

  it('spreads new orders over the window with an alarm, and pauses for the CA', async () => {
    const a = account()
    await a.setNow(T)
    const names = ['n1', 'n2', 'n3', 'n4', 'n5']
    for (const name of names) await a.createJob({ name, identifiers: [`${name}.test`], challenge: 'http-01' })
    for (const name of names.slice(0, 4)) {
      const run = await a.begin(name, issue(name))
      if (!('run' in run)) throw new Error(`no run for ${name}`)
      await a.finish(name, run.run.epoch, { status: 'unchanged' })
    }
    expect(await a.begin('n5', issue('n5'))).toEqual({
      wait: { granted: false, reason: 'new-orders', retryAt: T + 60_000 },
    })
    expect(await insideAccount(a, (_o, state) => state.storage.getAlarm())).toBe(T + 60_000)
    await a.setNow(T + 60_000)
    expect(await runDurableObjectAlarm(a as unknown as DurableObjectStub)).toBe(true)
    expect(await woken(a)).toEqual([{ name: 'n5' }])
    // The CA says "not before T + 120 s": the job that came back waits for that.
    await insideAccount(a, (o: TestAccount) => o.core.pauseNewOrders(T + 120_000))
    expect(await a.begin('n5', issue('n5'))).toEqual({
      wait: { granted: false, reason: 'paused', retryAt: T + 120_000 },
    })
    await a.setNow(T + 120_000)
    await runDurableObjectAlarm(a as unknown as DurableObjectStub)
    expect(await woken(a)).toEqual([{ name: 'n5' }])
    expect(await a.begin('n5', issue('n5'))).toMatchObject({ run: {} })
  })
})

describe('after a restart', () => {
  it('keeps jobs and budget holdings, forgets leases and the line: every unfinished job is re-enqueued', async () => {
    const name = accountName()
    let a = account(name)
    await a.setNow(T)
    for (const name of ['p', 'q', 'r', 's'])
      await a.createJob({ name, identifiers: [`${name}.test`], challenge: 'http-01' })
    const rs = await a.begin('s', issue('s', 1))
    if (!('run' in rs)) throw new Error('no run for s')
    await a.finish('s', rs.run.epoch, {
      status: 'valid',
      certificate: { serialNumber: '1', notBefore: '', notAfter: '', renewAt: '' },
    })
    await a.begin('p', issue('p', 3)) // running
    await a.begin('q', issue('q', 1)) // waiting
    expect(await insideAccount(a, (o: TestAccount) => o.core.unfinished())).toEqual(['r'])
    await abortAllDurableObjects()
    a = account(name)
    await a.setNow(T + 1000)
    expect(await insideAccount(a, (o: TestAccount) => o.core.unfinished())).toEqual(['p', 'q', 'r'])
    expect(await insideAccount(a, (o: TestAccount) => o.core.budget.held)).toBe(3)
    // p resumes at once (it holds its room), with a new epoch.
    expect(await a.begin('p', issue('p', 3))).toMatchObject({ run: { epoch: 2 } })
  })
})

describe('account, nonces, pacer', () => {
  it('creates the account once however many ask, and shares nonces and the pacer between sessions', async () => {
    const name = accountName()
    let a = account(name)
    const stored = {
      directoryUrl: 'https://ca.test/dir',
      accountUrl: 'https://ca.test/acct/1',
      privateKey: { sealed: 'A256GCM' as const, kid: 'k', iv: 'i', data: 'd' },
    }
    let created = 0
    const results = await insideAccount(a, (o: TestAccount) =>
      Promise.all(
        [1, 2, 3].map(() =>
          o.core.ensureAccount(async () => {
            created++
            return stored
          }),
        ),
      ),
    )
    expect(created).toBe(1)
    expect(results).toEqual([stored, stored, stored])
    const nonces = Array.from({ length: 20 }, (_, i) => `n${i}`)
    await insideAccount(a, (o: TestAccount) =>
      o.core.endSession({ nonces, pacer: { order: { delay: 40, floor: 0 } } }),
    )
    const session = await insideAccount(a, (o: TestAccount) => o.core.session())
    expect(session.account).toEqual(stored)
    expect(session.nonces).toEqual(nonces.slice(4))
    expect(session.pacer).toEqual({ order: { delay: 40, floor: 0 } })
    expect(await insideAccount(a, (o: TestAccount) => o.core.session().nonces)).toEqual(nonces.slice(0, 4))
    await abortAllDurableObjects()
    a = account(name)
    // The account and the pacer are durable; nonces are not worth keeping.
    const after = await insideAccount(a, (o: TestAccount) => o.core.session())
    expect(after).toEqual({ account: stored, nonces: [], pacer: { order: { delay: 40, floor: 0 } } })
  })
})
