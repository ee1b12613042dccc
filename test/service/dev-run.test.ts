/**
 * `npm run service` (service/dev/run.ts) with its own local Pebble and a temporary state folder, which holds the API
 * token and the storage key (issue 16, item 12): `--verbose` shows Pebble's log, and the folder is removed when the
 * command is stopped by SIGTERM (a process manager) or by Ctrl-C (SIGINT to the whole process group), not only on a
 * normal exit; nothing of it keeps running.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { getTestCa } from '../harness/ca.ts'
import { freePort } from '../harness/ports.ts'
import { root } from '../runtimes/paths.ts'

interface Started {
  child: ChildProcess
  state: string
  url: string
  output: () => string
  exited: Promise<void>
}

async function launch(args: string[]): Promise<Started> {
  const ca = await getTestCa()
  const port = await freePort()
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'service/dev/run.ts'), '--port', String(port), ...args],
    {
      cwd: root,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCertPath, WRANGLER_SEND_METRICS: 'false' },
    },
  )
  let text = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ready = await new Promise<{ state: string; url: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const line = /^WEBACME_SERVICE_READY (.+)$/m.exec(text)
      if (line) resolve(JSON.parse(line[1]!) as { state: string; url: string })
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code, signal) =>
      reject(new Error(`exited (${code ?? signal}):\n${text.slice(-3000)}`)),
    )
  })
  return { child, ...ready, output: () => text, exited }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

async function groupGone(pgid: number): Promise<void> {
  while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 100))
}

describe('npm run service: the temporary state folder', () => {
  it('shows Pebble’s log with --verbose, and removes the folder on SIGTERM to the launcher', async () => {
    const s = await launch(['--verbose'])
    try {
      expect(existsSync(join(s.state, 'dev-secrets.json'))).toBe(true)
      // Pebble's own lines (its start-up log), prefixed by the harness.
      expect(s.output()).toMatch(/pebble.*(Listening|Root CA|ACME directory)/i)
      s.child.kill('SIGTERM')
      await s.exited
      expect(s.child.exitCode).toBe(0)
      expect(existsSync(s.state)).toBe(false)
      await groupGone(s.child.pid!)
    } finally {
      if (groupAlive(s.child.pid!)) process.kill(-s.child.pid!, 'SIGKILL')
    }
  }, 180_000)

  it('removes the folder on Ctrl-C (SIGINT to the whole process group), and without --verbose shows no Pebble log', async () => {
    const s = await launch([])
    try {
      expect(s.output()).not.toMatch(/Listening on|Root CA/i)
      process.kill(-s.child.pid!, 'SIGINT')
      await s.exited
      expect(existsSync(s.state)).toBe(false)
      await groupGone(s.child.pid!)
    } finally {
      if (groupAlive(s.child.pid!)) process.kill(-s.child.pid!, 'SIGKILL')
    }
  }, 180_000)
})
