// Starts a real Knot DNS (`knotd`, Debian knot) as primary for the given zones on a free port of 127.0.0.1, with one
// TSIG key per algorithm allowed to update each zone (ACL `action: update`). Configuration, zone files, the journal
// database and the run directory live in a throw-away directory; knotd runs in the foreground and dies with the
// test process. Records are read back with `kdig`. Install: `node scripts/setup.mjs knot`.

import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type AuthoritativeOptions,
  type AuthoritativeServer,
  HOST,
  type ServerSpec,
  startAuthoritative,
  zoneFile,
} from './authoritative.ts'

const KNOT: ServerSpec = {
  kind: 'knot',
  daemon: 'knotd',
  digTool: 'kdig',
  portTaken: /address already in use|cannot bind/i,
  async configure(dir, port, keys, zones, readOnlyZones) {
    for (const sub of ['run', 'db', 'zones']) await mkdir(join(dir, sub), { recursive: true })
    const conf = [
      'server:',
      `  rundir: "${join(dir, 'run')}"`,
      `  listen: ${HOST}@${port}`,
      '  background-workers: 1',
      '  tcp-workers: 1',
      '  udp-workers: 1',
      'database:',
      `  storage: "${join(dir, 'db')}"`,
      'log:',
      '  - target: stderr',
      '    any: info',
      'key:',
      ...keys.flatMap((k) => [
        `  - id: ${k.name}`,
        `    algorithm: ${k.algorithm}`,
        `    secret: ${k.secret}`,
      ]),
      'acl:',
      '  - id: acme-update',
      `    key: [${keys.map((k) => k.name).join(', ')}]`,
      '    action: update',
      'template:',
      '  - id: default',
      `    storage: "${join(dir, 'zones')}"`,
      '    file: "%s.zone"',
      'zone:',
      ...zones.flatMap((zone) => [`  - domain: ${zone}`, '    acl: acme-update']),
      ...readOnlyZones.map((zone) => `  - domain: ${zone}`),
      '',
    ].join('\n')
    await writeFile(join(dir, 'knot.conf'), conf)
    for (const zone of [...zones, ...readOnlyZones]) {
      await writeFile(join(dir, 'zones', `${zone}.zone`), zoneFile(zone))
    }
    return ['-c', join(dir, 'knot.conf')]
  },
}

/** Starts Knot DNS for `options.zones`. Call `stop()` when done. */
export function startKnot(options: AuthoritativeOptions): Promise<AuthoritativeServer> {
  return startAuthoritative(KNOT, options)
}
