/**
 * The renewal job for cron or a systemd timer: renews every certificate in a storage directory that is due
 * (RFC 9773 ARI where the CA offers it, else when a third of the lifetime is left), answering http-01 on
 * HTTP_PORT meanwhile. Certificates get into the storage with `saveAccount` + `saveCertificate`, or with
 * `webacme issue --storage DIR` (the same records).
 *
 *   # crontab: every hour
 *   0 * * * *  STORAGE_DIR=/var/lib/webacme node --import tsx /opt/renew-cron.ts
 *
 * Environment: STORAGE_DIR (default /var/lib/webacme), HTTP_PORT (default 80), LOOKAHEAD_MS (renew what falls
 * due before the next run; default one hour, the cron interval). Exit status 1 when a renewal failed.
 */
import { createServer } from 'node:http'
import { http01Solver, isAcmeError, renewDue } from 'webacme'
import { FsStorage } from 'webacme/storage/fs'

const storage = new FsStorage(process.env.STORAGE_DIR ?? '/var/lib/webacme', {
  fs: await import('node:fs/promises'),
})
const http01 = http01Solver()
const server = createServer(async (req, res) => {
  const body = await http01.lookup(req.url ?? '/')
  res.writeHead(body ? 200 : 404).end(body ?? 'not found')
})
await new Promise<void>((resolve) => server.listen(Number(process.env.HTTP_PORT ?? 80), resolve))

try {
  const result = await renewDue({
    storage,
    solvers: [http01], // each certificate renews with the account stored with it (accounts/<id>)
    lookahead: Number(process.env.LOOKAHEAD_MS ?? 60 * 60 * 1000),
    signal: AbortSignal.timeout(15 * 60 * 1000),
  })
  for (const { name, certificate } of result.renewed) {
    console.log(`renewed ${name}: serial ${certificate.serialNumber}, valid until ${certificate.notAfter}`)
    // Deploy here: write certificate.certificate and certificate.privateKey where your server reads them.
  }
  for (const { name, renewAt } of result.skipped)
    console.log(`${name}: not due before ${renewAt.toISOString()}`)
  for (const { name, retryAt } of result.rescheduled)
    console.log(`${name}: rate-limited, retry at ${retryAt.toISOString()}`)
  for (const { name, error } of result.failed) {
    console.error(`${name}: failed: ${isAcmeError(error) ? `${error.code} ` : ''}${String(error)}`)
  }
  console.log(
    `${result.renewed.length} renewed, ${result.failed.length} failed; next run at ${result.nextRunAt.toISOString()}`,
  )
  process.exitCode = result.failed.length > 0 ? 1 : 0
} finally {
  server.close()
}
