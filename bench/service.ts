/**
 * `npm run bench:service`: figures of the certificate service (service/) as `npm run service` runs it (workerd
 * through Miniflare), issuing from a local Pebble through the rate-limit proxy (recording only, no limits):
 *
 * 1. throughput: N certificates requested at once through the API (one hostname each); certificates per minute
 *    from the first POST to the last certificate stored, and ACME requests per certificate (the proxy's count);
 * 2. CPU inside workerd: a V8 CPU profile of the Worker's isolate over its inspector during phase 1 (the queue
 *    consumer, the account Durable Object and the API all run there): CPU ms per certificate, and where it goes;
 * 3. recovery: N more certificates, the whole runtime SIGKILLed by process group once a third of them are
 *    finalized, started again on its state: time to ready, to the first certificate after the restart, to all;
 * 4. POST to served (bench/lib/served.ts): N more hostnames POSTed while `webacme sync --interval 1` feeds a real
 *    nginx; per hostname the time until nginx serves its certificate (TLS handshake by SNI, chain verified, the
 *    job's serial), the time until all are served, and webhook deliveries per event at a local receiver.
 *
 *   npm run bench:service -- [--n 300] [--served-n 300] [--cpu-only] [--json] [--out DIR]
 *
 * `--served-n` (or $BENCH_SERVED_N) sets the hostnames of phase 4 alone (default: N); the results say which it was.
 * `--cpu-only` runs phases 1 and 2 alone (for profiling: a change's effect on CPU without the slow phases 3 and 4).
 *
 * The CPU per certificate is given per part of the service: the queue consumer, the account Durable Object, the fetch
 * handlers (the API and the http-01 route), and what no frame of the Worker's code was on the stack for (workerd's
 * own work for the isolate: RPC, I/O, GC). The Worker's CPU is its sampled time (wall time while busy) times the
 * share of its runnable time workerd's main thread spent on a core (/proc/.../schedstat: on a loaded machine the rest
 * is waiting for one), at most the main thread's CPU time (which also counts Miniflare's own workers: its entry, the
 * assets router, the KV, R2 and queue simulators); each part gets its share of it, so the parts add up to the total.
 * Requests to the account object per certificate are its own count (`GET /api/status`).
 *
 * The default run writes bench/results/service-latest.{json,md}; others go to bench/.tmp/results/.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  type RateLimitProxy,
  type RequestRecord,
  startRateLimitProxy,
} from '../test/fixtures/rate-limit-proxy.ts'
import { getTestCa } from '../test/harness/ca.ts'
import { startPebble } from '../test/harness/pebble.ts'
import { freePort } from '../test/harness/ports.ts'
import { root } from '../test/runtimes/paths.ts'
import { type ServiceProcess, startService } from '../test/service/service-process.ts'
import { type CpuProfile, type CpuSummary, inspectorSession, summariseProfile } from './lib/cpu-profile.ts'
import { postToServed, type ServedResult } from './lib/served.ts'

const { values } = parseArgs({
  options: {
    n: { type: 'string' },
    'served-n': { type: 'string' },
    'cpu-only': { type: 'boolean' },
    json: { type: 'boolean' },
    out: { type: 'string' },
  },
})
const N = Number(values.n ?? 300)
const SERVED_N = Number(values['served-n'] ?? process.env.BENCH_SERVED_N ?? N)
const CPU_ONLY = values['cpu-only'] === true
const defaultRun = values.n === undefined && values.out === undefined && !CPU_ONLY
const outDir = values.out ?? join(root, defaultRun ? 'bench/results' : 'bench/.tmp/results')
const log = (line: string) => process.stderr.write(`[bench:service] ${line}\n`)
const RUN = Date.now().toString(36)

/** Which part of the service a frame of the bundle belongs to (for the CPU breakdown). */
function component(source: string, fn: string): string {
  // The route that answers the CA's http-01 requests lives with the solver that presents them.
  if (
    (source === 'src/cloudflare/http01.ts' && (fn === 'acmeChallengeResponse' || fn === 'get')) ||
    (source === 'service/solvers.ts' && fn === 'get')
  ) {
    return 'fetch and cron handlers (API, challenge route)'
  }
  // The consumer's request pacer lives with the budget, but paces the consumer's own requests to the CA.
  if (source === 'src/cloudflare/budget.ts' && ['requestPacer', 'paced', 'take', 'inner'].includes(fn)) {
    return 'queue consumer (issuance: webacme, runIssueJob, storage)'
  }
  if (/^src\/cloudflare\/(account|budget)\.ts$|^service\/account-object\.ts$/.test(source)) {
    return 'account Durable Object (jobs, budget, nonces)'
  }
  if (/^service\/(api|auth|assets|worker|renewal|input|hostname-policy|delivery\/routes)\.ts$/.test(source))
    return 'fetch and cron handlers (API, challenge route)'
  if (source === 'service/env.ts') return 'configuration (read on every call)'
  return 'queue consumer (issuance: webacme, runIssueJob, storage)'
}

/** `/proc/<path>/stat`: the command name and the fields after it (state, ppid, pgrp, ..., utime at 11, stime at 12). */
function stat(path: string): { name: string; fields: string[] } {
  const text = readFileSync(`/proc/${path}/stat`, 'utf8')
  return {
    name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    fields: text.slice(text.lastIndexOf(')') + 2).split(' '),
  }
}

/**
 * CPU time (user + system, ms; Linux /proc, USER_HZ 100) of the workerd processes of group `pgid`: all their threads,
 * and their main threads alone (where every isolate's JavaScript runs: the Worker's and Miniflare's own simulators).
 */
function workerdCpuMs(pgid: number): { process: number; mainThread: number; mainThreadWaited: number } {
  let process = 0
  let mainThread = 0
  let mainThreadWaited = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const { name, fields } = stat(pid)
      if (name !== 'workerd' || Number(fields[2]) !== pgid) continue
      process += Number(fields[11]) + Number(fields[12])
      const main = stat(`${pid}/task/${pid}`).fields
      mainThread += Number(main[11]) + Number(main[12])
      // schedstat: ns on a core, ns runnable but waiting for one, timeslices.
      mainThreadWaited +=
        Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6
    } catch {}
  }
  return { process: process * 10, mainThread: mainThread * 10, mainThreadWaited }
}

/** The parts the CPU per certificate is given for (prefixes of `component`'s names). */
const PARTS = {
  consumer: 'queue consumer',
  accountObject: 'account Durable Object',
  handlers: 'fetch and cron handlers',
  configuration: 'configuration',
  outside: '(outside',
} as const

/** The share of the profile's time charged to the components whose name starts with `prefix`. */
function share(cpu: CpuSummary, prefix: string): number {
  const ms = cpu.byComponent.filter(([k]) => k.startsWith(prefix)).reduce((sum, [, v]) => sum + v, 0)
  return ms / cpu.cpuMs
}

/** Resolves once `count` certificates of `names` have been downloaded through the proxy. */
function downloaded(proxy: RateLimitProxy, from: number, count: number): Promise<number> {
  return new Promise((resolve) => {
    const check = (r?: RequestRecord) => {
      if (r && (r.kind !== 'certificate' || r.status !== 200)) return
      if (proxy.certificates.size - from < count) return
      proxy.events.off('response', check)
      resolve(Date.now())
    }
    proxy.events.on('response', check)
    check()
  })
}

/** Requests the account object answered since it started (`GET /api/status`, which is one of them). */
async function objectRequests(service: ServiceProcess): Promise<number> {
  const status = (await (await service.api('/api/status')).json()) as { objectRequests?: number }
  return status.objectRequests ?? Number.NaN
}

/** `GET /api/certificates` calls made by `stored` (each is one request to the account object). */
let polls = 0

/** Resolves once the API shows every one of `names` valid (checked every 250 ms: each check lists every job). */
async function stored(service: ServiceProcess, names: string[]): Promise<number> {
  const wanted = new Set(names)
  for (;;) {
    polls++
    const res = await service.api('/api/certificates?limit=1000')
    const { certificates } = (await res.json()) as { certificates: Array<{ name: string; status: string }> }
    const valid = certificates.filter((c) => wanted.has(c.name) && c.status === 'valid').length
    if (valid === wanted.size) return Date.now()
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * `POST /api/certificates` for each name, 50 at once. A request whose connection was reset (a loaded machine) is sent
 * again: the same request again answers the job's status.
 */
async function request(service: ServiceProcess, names: string[]): Promise<void> {
  const post = async (name: string, attempt = 1): Promise<Response> => {
    try {
      return await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
    } catch (error) {
      if (attempt >= 5) throw error
      log(`POST ${name}: ${(error as Error).message} (${(error as Error).cause ?? ''}); again`)
      return post(name, attempt + 1)
    }
  }
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const res = await post(name)
        if (res.status !== 202) throw new Error(`POST ${name}: ${res.status} ${await res.text()}`)
      }),
    )
  }
}

async function main() {
  const ca = await getTestCa()
  const port = await freePort()
  const inspectorPort = await freePort()
  const persist = await mkdtemp(join(tmpdir(), 'webacme-bench-service-'))
  const pebble = await startPebble({
    http01: 'self',
    httpPort: port,
    authzReusePercent: 0,
    nonceRejectPercent: 0,
  })
  const proxy = await startRateLimitProxy({ pebble })
  const options = {
    port,
    persist,
    directory: proxy.directoryUrl,
    token: `bench-${RUN}-token`,
    caFile: ca.caCertPath,
    inspectorPort,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      LIMIT_NEW_ORDERS: '100000',
      LIMIT_REQUESTS_PER_SECOND: '100000',
    },
  }
  let service = await startService(options)
  try {
    // Warm-up, not measured: the account, the first isolate, the directory.
    await request(service, [`warm-${RUN}.bench.test`])
    await stored(service, [`warm-${RUN}.bench.test`])

    // 1 + 2: throughput and CPU.
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
      id: string
      webSocketDebuggerUrl: string
    }>
    const target = targets.find((t) => t.id === 'core:user:webacme-service')
    if (!target)
      throw new Error(`no inspector target for the service: ${targets.map((t) => t.id).join(', ')}`)
    const inspector = await inspectorSession(target.webSocketDebuggerUrl)
    await inspector.send('Profiler.enable')
    await inspector.send('Profiler.setSamplingInterval', { interval: 200 })
    const names = Array.from({ length: N }, (_, i) => `t${i}-${RUN}.bench.test`)
    const requestsBefore = proxy.requests.length
    const certificatesBefore = proxy.certificates.size
    const objectBefore = await objectRequests(service)
    await inspector.send('Profiler.start')
    const workerdBefore = workerdCpuMs(service.pid)
    const pollsBefore = polls
    const started = Date.now()
    log(`phase 1: ${N} certificates`)
    await request(service, names)
    await downloaded(proxy, certificatesBefore, N)
    const finished = await stored(service, names)
    const workerdAfter = workerdCpuMs(service.pid)
    const workerd = {
      process: workerdAfter.process - workerdBefore.process,
      mainThread: workerdAfter.mainThread - workerdBefore.mainThread,
      mainThreadWaited: workerdAfter.mainThreadWaited - workerdBefore.mainThreadWaited,
    }
    const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop')
    inspector.close()
    const pollsDuring = polls - pollsBefore
    // Less the bench's own: its polls of the job list and the status request that reads the count.
    const objectCalls = (await objectRequests(service)) - objectBefore - 1 - pollsDuring
    const requests = proxy.requests.length - requestsBefore
    const minutes = (finished - started) / 60_000
    const cpu = summariseProfile(profile, join(persist, 'worker.js'), component)
    await mkdir(join(root, 'bench/.tmp'), { recursive: true })
    // The profile and the bundle it refers to, for `bench/profile.ts`-style digging.
    await writeFile(join(root, 'bench/.tmp/service.cpuprofile'), JSON.stringify(profile))
    await copyFile(join(persist, 'worker.js'), join(root, 'bench/.tmp/service-worker.js'))
    await copyFile(join(persist, 'worker.js.map'), join(root, 'bench/.tmp/service-worker.js.map'))
    // The Worker's isolate's CPU: its sampled time is wall time while it is busy, which counts the time its thread
    // waited for a core (a loaded machine); the scheduler's figures for workerd's main thread say what share of its
    // runnable time it was on a core. Capped by the main thread's CPU (every isolate, Miniflare's own included).
    const onCore =
      workerd.mainThreadWaited > 0 ? workerd.mainThread / (workerd.mainThread + workerd.mainThreadWaited) : 1
    const isolateMs = Math.min(cpu.cpuMs * onCore, workerd.mainThread)
    const parts = Object.fromEntries(
      Object.entries(PARTS).map(([part, prefix]) => [part, (share(cpu, prefix) * isolateMs) / N]),
    ) as Record<keyof typeof PARTS, number>
    log(
      `phase 1: ${(N / minutes).toFixed(0)} certificates/min, ${(requests / N).toFixed(2)} requests/certificate, ${(objectCalls / N).toFixed(2)} account object requests/certificate`,
    )
    log(
      `phase 1: ms/certificate: consumer ${parts.consumer.toFixed(2)}, account object ${parts.accountObject.toFixed(2)}, handlers ${parts.handlers.toFixed(2)}, configuration ${parts.configuration.toFixed(2)}, outside the Worker's code ${parts.outside.toFixed(2)}; total ${(isolateMs / N).toFixed(2)} (sampled ${(cpu.cpuMs / N).toFixed(2)} × ${onCore.toFixed(2)} on a core; workerd main thread ${(workerd.mainThread / N).toFixed(2)})`,
    )
    const throughput = {
      seconds: (finished - started) / 1000,
      certificatesPerMinute: N / minutes,
      requestsPerCertificate: requests / N,
      objectRequestsPerCertificate: objectCalls / N,
    }
    if (CPU_ONLY) {
      const result = {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, node: process.versions.node },
        n: N,
        throughput,
        cpu: {
          perCertificateMs: isolateMs / N,
          sampledPerCertificateMs: cpu.cpuMs / N,
          workerdMainThreadPerCertificateMs: workerd.mainThread / N,
          workerdProcessPerCertificateMs: workerd.process / N,
          onCore,
          parts,
          byComponent: cpu.byComponent,
          bySource: cpu.bySource.slice(0, 20),
          byFunction: cpu.byFunction.slice(0, 25),
        },
      }
      await mkdir(outDir, { recursive: true })
      await writeFile(join(outDir, 'service-cpu.json'), `${JSON.stringify(result, null, 2)}\n`)
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
      return
    }

    // 3: recovery after a SIGKILL of the whole runtime.
    const more = Array.from({ length: N }, (_, i) => `k${i}-${RUN}.bench.test`)
    const ordersBefore = new Set(proxy.orders.keys())
    const killAt = Math.ceil(N / 3)
    await request(service, more)
    await new Promise<void>((resolve) => {
      const check = () => {
        const finalized = [...proxy.orders.values()].filter(
          (o) => !ordersBefore.has(o.url) && o.finalizedAt !== undefined,
        )
        if (finalized.length < killAt) return
        proxy.events.off('response', check)
        resolve()
      }
      proxy.events.on('response', check)
    })
    await service.kill()
    const killed = Date.now()
    // Downloads still on their way at the kill have landed now: count from here.
    const firstAfter = downloaded(proxy, proxy.certificates.size, 1)
    log(`phase 3: killed after ${killAt} finalized orders`)
    service = await startService({ ...options, inspectorPort: await freePort() })
    const ready = Date.now()
    const first = await firstAfter
    const all = await stored(service, more)
    const recovery = { readyMs: ready - killed, firstCertificateMs: first - killed, allMs: all - killed }
    log(
      `phase 3: ready ${recovery.readyMs} ms, first certificate ${recovery.firstCertificateMs} ms, all ${recovery.allMs} ms after the kill`,
    )

    // 4: POST to served, through `webacme sync` and nginx; webhook deliveries per event.
    const served = await postToServed(
      service,
      options.token,
      await pebble.roots(0),
      Array.from({ length: SERVED_N }, (_, i) => `s${i}-${RUN}.bench.test`),
      log,
    )

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.versions.node },
      n: N,
      throughput,
      cpu: {
        totalMs: cpu.cpuMs,
        isolatePerCertificateMs: isolateMs / N,
        onCore,
        parts,
        perCertificateMs: cpu.cpuMs / N,
        byComponent: cpu.byComponent,
        bySource: cpu.bySource.slice(0, 20),
        byFunction: cpu.byFunction.slice(0, 25),
        workerdProcessPerCertificateMs: workerd.process / N,
        workerdMainThreadPerCertificateMs: workerd.mainThread / N,
        // The consumer's share of the sampled time, applied to the smaller of the two measures of the isolate's CPU.
        consumerEstimatePerCertificateMs: parts.consumer,
      },
      recovery,
      served,
    }
    await mkdir(outDir, { recursive: true })
    await writeFile(join(outDir, 'service-latest.json'), `${JSON.stringify(result, null, 2)}\n`)
    await writeFile(join(outDir, 'service-latest.md'), markdown(result, cpu))
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    else process.stdout.write(markdown(result, cpu))
  } finally {
    await service.stop()
    await proxy.close()
    await pebble.stop()
    await rm(persist, { recursive: true, force: true })
  }
}

function markdown(
  r: {
    date: string
    n: number
    throughput: {
      seconds: number
      certificatesPerMinute: number
      requestsPerCertificate: number
      objectRequestsPerCertificate: number
    }
    cpu: {
      perCertificateMs: number
      isolatePerCertificateMs: number
      onCore: number
      parts: Record<keyof typeof PARTS, number>
      workerdProcessPerCertificateMs: number
      workerdMainThreadPerCertificateMs: number
      consumerEstimatePerCertificateMs: number
    }
    recovery: { readyMs: number; firstCertificateMs: number; allMs: number }
    served: ServedResult
    machine: { cpus: number; node: string }
  },
  cpu: CpuSummary,
): string {
  const row = ([k, ms]: [string, number]) =>
    `| ${k} | ${ms.toFixed(0)} | ${((100 * ms) / cpu.cpuMs).toFixed(1)} % | ${(ms / r.n).toFixed(2)} |`
  return `# The certificate service: figures (\`npm run bench:service\`)

${r.date}; ${r.machine.cpus} cores, Node ${r.machine.node}; workerd through Miniflare (\`npm run service\`), local Pebble
(no authorization reuse, no nonce rejection) behind the recording proxy; one hostname per certificate.

| figure | value |
| --- | --- |
| certificates | ${r.n} requested at once through the API |
| throughput | ${r.throughput.certificatesPerMinute.toFixed(0)} certificates/min (${r.throughput.seconds.toFixed(1)} s from the first POST to the last stored) |
| ACME requests per certificate | ${r.throughput.requestsPerCertificate.toFixed(2)} |
| requests to the account Durable Object per certificate | ${r.throughput.objectRequestsPerCertificate.toFixed(2)} (the consumer's and the API's; the bench's own polls not counted) |
| CPU per certificate in the queue consumer | ${r.cpu.parts.consumer.toFixed(2)} ms (its share of the profile, times the isolate's CPU; see below) |
| CPU per certificate in the account Durable Object | ${r.cpu.parts.accountObject.toFixed(2)} ms |
| CPU per certificate in the fetch handlers (API, http-01 route) | ${r.cpu.parts.handlers.toFixed(2)} ms |
| CPU per certificate outside the Worker's code | ${r.cpu.parts.outside.toFixed(2)} ms (workerd's work for the isolate with no frame of the Worker on the stack: RPC, I/O, GC)${r.cpu.parts.configuration > 0.005 ? `; configuration read ${r.cpu.parts.configuration.toFixed(2)} ms` : ''} |
| CPU per certificate in the Worker's isolate, all parts | ${r.cpu.isolatePerCertificateMs.toFixed(2)} ms (the sampled time below times the share of its runnable time workerd's main thread was on a core, ${(100 * r.cpu.onCore).toFixed(0)} %; at most the main thread's CPU) |
| time sampled in the Worker's isolate per certificate | ${r.cpu.perCertificateMs.toFixed(2)} ms (V8 CPU profile over the inspector: consumer, account Durable Object, API) |
| CPU of workerd's main thread per certificate | ${r.cpu.workerdMainThreadPerCertificateMs.toFixed(2)} ms (/proc: every isolate's JavaScript, Miniflare's simulators of KV, R2, queues and Durable Objects included) |
| CPU of the workerd process per certificate | ${r.cpu.workerdProcessPerCertificateMs.toFixed(2)} ms (/proc, all threads) |
| recovery after SIGKILL of the runtime | ready ${(r.recovery.readyMs / 1000).toFixed(1)} s, first certificate ${(r.recovery.firstCertificateMs / 1000).toFixed(1)} s, all ${r.n} ${(r.recovery.allMs / 1000).toFixed(1)} s after the kill |
| POST to served (${r.served.n} hostnames, \`webacme sync --interval 1\` into nginx) | per hostname median ${(r.served.perHostname.medianMs / 1000).toFixed(1)} s, p95 ${(r.served.perHostname.p95Ms / 1000).toFixed(1)} s, max ${(r.served.perHostname.maxMs / 1000).toFixed(1)} s; all ${r.served.n} served ${(r.served.totalMs / 1000).toFixed(1)} s after the first POST (${r.served.reloads} nginx reloads; each name probed in rounds, ${r.served.probeRounds} rounds) |
| of which issuance (POST to valid in the API, polled every 250 ms) | per hostname median ${(r.served.issued.medianMs / 1000).toFixed(1)} s, p95 ${(r.served.issued.p95Ms / 1000).toFixed(1)} s; all ${r.served.n} valid ${(r.served.issued.allMs / 1000).toFixed(1)} s after the first POST (the rest is \`webacme sync\`'s passes: a 1 s interval, 8 bundles at once; and the reloads) |
| webhook deliveries per event | ${r.served.webhooks.deliveries} deliveries for ${r.served.webhooks.events} events (${r.served.webhooks.expected} expected): min ${r.served.webhooks.minPerEvent}, max ${r.served.webhooks.maxPerEvent} per event, ${r.served.webhooks.duplicatedEvents} duplicated; signatures ${r.served.webhooks.signaturesVerified ? 'all verified' : 'NOT all verified'}; all delivered ${(r.served.webhooks.allDeliveredMs / 1000).toFixed(1)} s after the first POST |

## Where the CPU goes

Each sample charged to the nearest frame of the service's code on its stack (a WebCrypto call or a binding call
counts for the code that made it):

| part | ms | share | ms/certificate |
| --- | --- | --- | --- |
${cpu.byComponent.map(row).join('\n')}

Self time by source and by function:

| source | ms | share | ms/certificate |
| --- | --- | --- | --- |
${cpu.bySource.slice(0, 15).map(row).join('\n')}

| function | ms | share | ms/certificate |
| --- | --- | --- | --- |
${cpu.byFunction.slice(0, 20).map(row).join('\n')}
`
}

await main()
