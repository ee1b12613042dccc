/**
 * runIssueJob inside workerd against a real Pebble (test/cloudflare/global-setup.ts), with the job kept in a real
 * account Durable Object (TestAccount). http-01 goes through challtestsrv, where Pebble's VA looks.
 */

import { beforeAll, describe, expect, inject, it } from 'vitest'
import { accountStub } from '../../test/cloudflare/helpers.ts'
import type { ChallengeSolver } from '../challenges/solver.ts'
import { AcmeClient } from '../client.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { certificateMatchesKey } from '../pkix/certificate.ts'
import { certificateKeyLabel, type JobChange } from './account.ts'
import { runIssueJob } from './job.ts'
import { type KeyRing, keyRing, openPrivateKey } from './keyring.ts'

const { directoryUrl, challtestUrl } = inject('pebble')
const RUN = Date.now().toString(36)
let unique = 0
const T = Date.now()

const calls: string[] = []
const http01: ChallengeSolver = {
  type: 'http-01',
  async present(c) {
    calls.push(`present ${c.challenge.token}`)
    const res = await fetch(`${challtestUrl}/add-http01`, {
      method: 'POST',
      body: JSON.stringify({ token: c.challenge.token, content: c.keyAuthorization }),
    })
    if (!res.ok) throw new Error(`add-http01: ${res.status}`)
  },
  async cleanup(c) {
    calls.push(`cleanup ${c.challenge.token}`)
    const res = await fetch(`${challtestUrl}/del-http01`, {
      method: 'POST',
      body: JSON.stringify({ token: c.challenge.token }),
    })
    if (!res.ok) throw new Error(`del-http01: ${res.status}`)
  },
}

let client: AcmeClient
let ring: KeyRing

beforeAll(async () => {
  ring = await keyRing('job-test-secret-0123456789abcdefghijklmnopqrstuv')
  client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair() })
  await client.createAccount({ termsOfServiceAgreed: true })
})

async function newJob(identifiers = [`j${++unique}-${RUN}.webacme.test`]) {
  const stub = accountStub(`jobs-${RUN}-${unique}`)
  await stub.setNow(T)
  const name = identifiers[0]!
  await stub.createJob({ name, identifiers, challenge: 'http-01' })
  const begun = await stub.begin(name, {
    kind: 'issue',
    authorizations: identifiers.length,
    newOrder: true,
    wakeMessage: null,
  })
  if (!('run' in begun)) throw new Error(JSON.stringify(begun))
  // What the run records, in order, and the job as it was when each record arrived.
  const recorded: JobChange[] = []
  const account = {
    record: async (n: string, epoch: number, change: JobChange) => {
      recorded.push(change)
      return stub.record(n, epoch, change)
    },
  }
  return { stub, name, run: begun.run, account, recorded }
}

describe('runIssueJob', () => {
  it('records the order, each presented challenge and its cleanup, and the sealed key before finalize', async () => {
    const { stub, name, run, account, recorded } = await newJob([
      `a-${RUN}.webacme.test`,
      `b-${RUN}.webacme.test`,
    ])
    const issued = await runIssueJob({
      account,
      job: run.job,
      epoch: run.epoch,
      ring,
      client,
      solvers: [http01],
    })
    expect(recorded.map((c) => Object.keys(c)[0])).toEqual([
      'orderUrl',
      'present',
      'present',
      'cleaned',
      'cleaned',
      'certificateKey',
    ])
    expect(recorded[0]).toEqual({ orderUrl: issued.order.url })
    const job = await stub.getJob(name)
    expect(job?.orderUrl).toBe(issued.order.url)
    expect(job?.presented).toEqual([])
    expect(JSON.stringify(job?.certificateKey)).not.toContain('PRIVATE')
    const stored = await openPrivateKey(ring, job?.certificateKey, certificateKeyLabel(name))
    expect(await certificateMatchesKey(issued.parsed, stored)).toBe(true)
  })

  it('resumes a run stopped before finalize: the same order, finalized with the key stored before', async () => {
    const first = await newJob()
    const controller = new AbortController()
    const stopAfterKey = {
      record: async (n: string, epoch: number, change: JobChange) => {
        const ok = await first.account.record(n, epoch, change)
        if ('certificateKey' in change) controller.abort(new Error('crash'))
        return ok
      },
    }
    await expect(
      runIssueJob({
        account: stopAfterKey,
        job: first.run.job,
        epoch: first.run.epoch,
        ring,
        client,
        solvers: [http01],
        signal: controller.signal,
      }),
    ).rejects.toThrow('crash')
    const left = await first.stub.getJob(first.name)
    expect(left?.orderUrl).toBeDefined()
    expect(left?.certificateKey).toBeDefined()
    // The lease (60 s in the test object) runs out; a new run takes the job over.
    await first.stub.setNow(T + 61_000)
    const again = await first.stub.begin(first.name, {
      kind: 'issue',
      authorizations: 1,
      newOrder: false,
      wakeMessage: null,
    })
    if (!('run' in again)) throw new Error(JSON.stringify(again))
    const recorded: JobChange[] = []
    const issued = await runIssueJob({
      account: {
        record: (n, e, c) => {
          recorded.push(c)
          return first.stub.record(n, e, c)
        },
      },
      job: again.run.job,
      epoch: again.run.epoch,
      ring,
      client,
      solvers: [http01],
    })
    expect(issued.order.url).toBe(left?.orderUrl)
    expect(recorded).toEqual([]) // nothing new: same order, same key, no challenge left to present
    const key = await openPrivateKey(ring, left?.certificateKey, certificateKeyLabel(first.name))
    expect(await certificateMatchesKey(issued.parsed, key)).toBe(true)
    // The superseded run can no longer write.
    expect(await first.stub.record(first.name, first.run.epoch, { orderUrl: 'https://x.test/order' })).toBe(
      false,
    )
  })

  it('cleans up what a crashed run presented before anything else, and replaces an order the CA no longer has', async () => {
    const { stub, name, run, account, recorded } = await newJob()
    const ghost = {
      type: 'http-01',
      context: {
        authorization: {
          url: `${directoryUrl}/authz/ghost`,
          status: 'pending',
          identifier: { type: 'dns', value: name },
          challenges: [],
        },
        challenge: {
          url: `${directoryUrl}/chall/ghost`,
          type: 'http-01',
          status: 'pending',
          token: `ghost${RUN}`,
        },
        identifier: { type: 'dns', value: name },
        keyAuthorization: `ghost${RUN}.x`,
        accountUrl: client.accountUrl!,
      },
    } as const
    await stub.record(name, run.epoch, { present: structuredClone(ghost) as never })
    const gone = new URL('/my-order/does-not-exist', directoryUrl).href
    await stub.record(name, run.epoch, { orderUrl: gone })
    const job = (await stub.getJob(name))!
    calls.length = 0
    const issued = await runIssueJob({ account, job, epoch: run.epoch, ring, client, solvers: [http01] })
    expect(calls[0]).toBe(`cleanup ghost${RUN}`)
    expect(recorded[0]).toMatchObject({ cleaned: { context: { challenge: { token: `ghost${RUN}` } } } })
    expect(issued.order.url).not.toBe(gone)
    expect(recorded[1]).toEqual({ orderUrl: issued.order.url })
    expect((await stub.getJob(name))?.presented).toEqual([])
  })

  it('stops at the first record once the job was taken over', async () => {
    const { stub, name, run, account } = await newJob()
    await stub.setNow(T + 61_000)
    await stub.begin(name, { kind: 'issue', authorizations: 1, newOrder: true, wakeMessage: null })
    await expect(
      runIssueJob({ account, job: run.job, epoch: run.epoch, ring, client, solvers: [http01] }),
    ).rejects.toMatchObject({
      code: 'ERR_STORAGE_CONFLICT',
    })
  })
})
