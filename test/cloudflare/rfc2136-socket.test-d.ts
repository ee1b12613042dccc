// Type test: a Workers `Socket` from `connect()` (cloudflare:sockets, as @cloudflare/workers-types declares it) is
// what streamTransport() takes, so the Workers example of webacme/dns/rfc2136 compiles as written in a Worker.
import { connect } from 'cloudflare:sockets'
import { rfc2136Adapter, streamTransport } from '../../src/dns/providers/rfc2136.ts'

export const adapter = rfc2136Adapter({
  transport: streamTransport(() => connect({ hostname: 'ns1.example.net', port: 53 }), {
    server: 'ns1.example.net:53',
  }),
  tsig: { name: 'acme-update', secret: 'c2VjcmV0', algorithm: 'hmac-sha256' },
})
