/**
 * A real nginx (Debian's nginx-light, setup feature `nginx`) serving HTTPS on free loopback ports from certificate
 * files on disk, as an operator's server would: its own prefix, configuration, pid file and logs in a temp dir, run
 * in the foreground (`daemon off`) and registered in the harness's child registry; `reload()` is `nginx -s reload`
 * on that configuration (the master re-reads the files and replaces its workers gracefully).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childRegistry } from './children.ts'
import { OutputTail } from './output-tail.ts'
import { freePort } from './ports.ts'
import { systemBinary } from './system.ts'

/** One HTTPS site: `serverName` answered with the files of `certDir` (fullchain.pem, privkey.pem). */
export interface NginxSite {
  serverName: string
  certDir: string
}

export interface Nginx {
  /** The HTTPS port every site listens on (SNI picks the site). */
  readonly port: number
  readonly prefix: string
  /** `nginx -s reload`; resolves when the signal was sent (the workers are replaced in the background). */
  reload(): Promise<void>
  /** The same as one shell command line (for `webacme sync --reload`). */
  readonly reloadCommand: string
  /** Everything nginx wrote to its error log and its output so far. */
  logs(): string
  stop(): Promise<void>
}

const registry = () => childRegistry('nginx')

function config(prefix: string, port: number, sites: NginxSite[]): string {
  const temp = (name: string) => `${name}_temp_path ${join(prefix, 'tmp', name)};`
  return `daemon off;
master_process on;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} info;
events { worker_connections 256; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  default_type text/plain;
  ${sites
    .map(
      (site) => `server {
    listen 127.0.0.1:${port} ssl;
    server_name ${site.serverName};
    ssl_certificate ${join(site.certDir, 'fullchain.pem')};
    ssl_certificate_key ${join(site.certDir, 'privkey.pem')};
    location / { return 200 "${site.serverName}\\n"; }
  }`,
    )
    .join('\n  ')}
}
`
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Starts nginx for `sites` (their certificate files must exist) and resolves once it accepts connections. */
export async function startNginx(sites: NginxSite[]): Promise<Nginx> {
  const binary = systemBinary('nginx')
  const prefix = await mkdtemp(join(tmpdir(), 'webacme-nginx-'))
  registry().dirs.add(prefix)
  for (const name of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    await mkdir(join(prefix, 'tmp', name), { recursive: true })
  }
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  await writeFile(conf, config(prefix, port, sites))
  const args = ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')]
  const tail = new OutputTail(64 * 1024)
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  registry().children.add(child)
  child.stdout!.on('data', (chunk: Buffer) => tail.append(chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => tail.append(chunk.toString('utf8')))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const readLog = () => readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')
  // Up when it accepts connections; a hang guard only (nginx binds at once or exits).
  const deadline = Date.now() + 30_000
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`nginx did not start:\n${tail.toString()}\n${await readLog()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  let log = ''
  return {
    port,
    prefix,
    async reload() {
      await promisify(execFile)(binary, [...args, '-s', 'reload'])
    },
    reloadCommand: [binary, ...args, '-s', 'reload'].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' '),
    logs: () => `${tail.toString()}${log}`,
    async stop() {
      log = await readLog()
      if (child.exitCode === null) {
        // SIGQUIT: graceful shutdown of master and workers.
        child.kill('SIGQUIT')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      registry().children.delete(child)
      await rm(prefix, { recursive: true, force: true })
      registry().dirs.delete(prefix)
    },
  }
}
