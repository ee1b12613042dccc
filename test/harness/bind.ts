// Starts a real BIND 9 (`named`, Debian bind9) as primary for the given zones on a free port of 127.0.0.1, with one
// TSIG key per algorithm allowed to update TXT records anywhere in each zone (update-policy `zonesub`). Everything
// lives in a throw-away directory (named.conf, zone files, journals); named runs in the foreground (-g) and dies
// with the test process. Records are read back with `dig`. Install: `node scripts/setup.mjs bind`.

import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type AuthoritativeOptions,
  type AuthoritativeServer,
  HOST,
  type ServerSpec,
  startAuthoritative,
  zoneFile,
} from './authoritative.ts'

const BIND: ServerSpec = {
  kind: 'bind',
  daemon: 'named',
  digTool: 'dig',
  portTaken: /address in use|could not listen|unable to listen/i,
  async configure(dir, port, keys, zones, readOnlyZones) {
    const conf = [
      'options {',
      `  directory "${dir}";`,
      `  pid-file "${join(dir, 'named.pid')}";`,
      `  session-keyfile "${join(dir, 'session.key')}";`,
      `  managed-keys-directory "${dir}";`,
      `  listen-on port ${port} { ${HOST}; };`,
      '  listen-on-v6 { none; };',
      '  recursion no;',
      '  dnssec-validation no;',
      '  notify no;',
      '};',
      // No rndc channel: nothing controls this server but its signals.
      'controls { };',
      ...keys.map((k) => `key "${k.name}" { algorithm ${k.algorithm}; secret "${k.secret}"; };`),
      ...zones.flatMap((zone) => [
        `zone "${zone}" {`,
        '  type primary;',
        `  file "${join(dir, `${zone}.zone`)}";`,
        `  update-policy { ${keys.map((k) => `grant ${k.name} zonesub TXT;`).join(' ')} };`,
        '};',
      ]),
      ...readOnlyZones.map(
        (zone) => `zone "${zone}" { type primary; file "${join(dir, `${zone}.zone`)}"; };`,
      ),
      '',
    ].join('\n')
    await writeFile(join(dir, 'named.conf'), conf)
    for (const zone of [...zones, ...readOnlyZones])
      await writeFile(join(dir, `${zone}.zone`), zoneFile(zone))
    // -g: foreground, log to stderr; -n 1: one worker (the machine is shared); -u root: stay who we are.
    return ['-g', '-n', '1', '-u', 'root', '-c', join(dir, 'named.conf')]
  },
}

/** Starts BIND 9 for `options.zones`. Call `stop()` when done. */
export function startBind(options: AuthoritativeOptions): Promise<AuthoritativeServer> {
  return startAuthoritative(BIND, options)
}
