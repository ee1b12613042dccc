// Free ports on 127.0.0.1 for the test servers, and a check of which process owns a listener.

import { createSocket } from 'node:dgram'
import { readdir, readFile, readlink } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'

const HOST = '127.0.0.1'

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port, host: HOST, exclusive: true }, () => resolve(server))
  })
}

function closeTcp(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/** True when UDP `port` can be bound too (a DNS server listens on both). */
function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    socket.unref()
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind({ port, address: HOST, exclusive: true }, () => socket.close(() => resolve(true)))
  })
}

/**
 * `count` distinct ports that were free on 127.0.0.1 (TCP and UDP) a moment ago: each is bound to port 0,
 * read and closed. All are held open until every one is chosen, so they differ. Another process can
 * still take one before the caller binds it: callers check that their own server got it.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = []
  const ports: number[] = []
  try {
    let attempts = 0
    while (ports.length < count) {
      if (++attempts > count * 20) throw new Error(`could not find ${count} free ports on ${HOST}`)
      const server = await listenTcp(0)
      held.push(server)
      const address = server.address()
      if (address === null || typeof address === 'string') continue
      if (await udpFree(address.port)) ports.push(address.port)
    }
  } finally {
    await Promise.all(held.map(closeTcp))
  }
  return ports
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port!
}

/** True when nothing listens on TCP `port` of 127.0.0.1 (it can be bound right now). */
export async function isPortFree(port: number): Promise<boolean> {
  try {
    await closeTcp(await listenTcp(port))
    return true
  } catch {
    return false
  }
}

/** Inodes of the TCP sockets listening on `port` (any local address), from /proc/net/tcp{,6}. */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>()
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      // cols: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const local = cols[1]
      if (!local || cols[3] !== '0A' /* LISTEN */) continue
      if (local.slice(local.lastIndexOf(':') + 1) === hexPort && cols[9]) inodes.add(cols[9])
    }
  }
  return inodes
}

/**
 * Whether process `pid` holds the TCP socket listening on `port`: true or false on Linux (from /proc),
 * undefined where that cannot be told. Guards against a stranger answering on a port we picked.
 */
export async function listenerOwnedBy(pid: number, port: number): Promise<boolean | undefined> {
  let fds: string[]
  try {
    fds = await readdir(`/proc/${pid}/fd`)
  } catch {
    return process.platform === 'linux' ? false : undefined
  }
  const inodes = await listeningInodes(port)
  if (inodes.size === 0) return false
  for (const fd of fds) {
    try {
      const target = await readlink(`/proc/${pid}/fd/${fd}`)
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m?.[1] && inodes.has(m[1])) return true
    } catch {}
  }
  return false
}
