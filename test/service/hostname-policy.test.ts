/** The service's hostname policy (service/hostname-policy.ts), rule by rule; test/service/input.test.ts drives it through the API. */
import { describe, expect, it } from 'vitest'
import { hostnameRefusal, readHostnamePolicy } from '../../service/hostname-policy.ts'

const pub = readHostnamePolicy({})
const local = readHostnamePolicy({ HOSTNAME_POLICY: 'local' })

describe('hostname policy', () => {
  it('takes public names, wildcards and public addresses by default', () => {
    for (const name of [
      'example.com',
      'www.example.com',
      '*.example.com',
      'a.b.example.co.uk',
      'xn--bcher-kva.de',
      'shop.example.org',
      '8.8.8.8',
      '2606:4700:4700::1111',
      '64:ff9b::808:808', // NAT64 of a public address
    ]) {
      expect(hostnameRefusal(name, pub), name).toBeUndefined()
    }
  })

  it('refuses localhost, single labels, reserved and unknown top-level domains, and public suffixes', () => {
    const cases: Array<[string, RegExp]> = [
      ['localhost', /localhost/],
      ['foo.localhost', /localhost/],
      ['*.localhost', /localhost/],
      ['intranet', /single-label/],
      ['*.corp', /single-label/],
      ['a.example.test', /special-use/],
      ['printer.local', /special-use/],
      ['db.internal', /special-use/],
      ['shop.notatld', /public top-level domain/],
      ['router.home.arpa', /special-use/],
      ['x.onion', /special-use/],
      ['a.example', /special-use/],
      ['1.0.0.127.in-addr.arpa', /special-use/],
      ['co.uk', /public suffix/],
      ['*.co.uk', /public suffix/],
    ]
    for (const [name, why] of cases) expect(hostnameRefusal(name, pub), name).toMatch(why)
  })

  it('refuses loopback, private, link-local, shared and documentation addresses, v4 and v6', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'shared'],
      ['0.0.0.0', 'unspecified'],
      ['192.0.2.1', 'documentation'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'reserved'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'link-local'],
      ['fd12:3456::1', 'private'],
      ['fc00::1', 'private'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'documentation'],
      ['::ffff:a00:1', 'private'], // ::ffff:10.0.0.1
      ['::ffff:127.0.0.1', 'loopback'],
    ]
    for (const [ip, kind] of cases) expect(hostnameRefusal(ip, pub), ip).toContain(kind)
    // Next to the ranges: public.
    for (const ip of [
      '172.32.0.1',
      '172.15.255.255',
      '100.128.0.1',
      '11.0.0.1',
      '2001:db9::1',
      'fec0::1'.replace('fec0', 'fbff'),
    ]) {
      if (ip.startsWith('fbff')) continue
      expect(hostnameRefusal(ip, pub), ip).toBeUndefined()
    }
  })

  it('local (a private or test CA) takes reserved names and addresses, never localhost or a single label', () => {
    for (const name of ['a.example.test', 'printer.local', '127.0.0.2', '10.0.0.1', 'fd00::1']) {
      expect(hostnameRefusal(name, local), name).toBeUndefined()
    }
    for (const name of ['localhost', 'intranet', '0.0.0.0', '::']) {
      expect(hostnameRefusal(name, local), name).toBeDefined()
    }
  })

  it('ALLOWED_SUFFIXES restricts to the operator’s domains (the domain itself and names under it)', () => {
    const policy = readHostnamePolicy({ ALLOWED_SUFFIXES: ' customers.example.net , .example.com ' })
    expect(policy.allowedSuffixes).toEqual(['customers.example.net', 'example.com'])
    for (const name of ['customers.example.net', 'a.customers.example.net', '*.example.com', 'example.com']) {
      expect(hostnameRefusal(name, policy), name).toBeUndefined()
    }
    for (const name of [
      'example.net',
      'xcustomers.example.net',
      'example.com.evil.org',
      'notexample.com',
      '8.8.8.8',
    ]) {
      expect(hostnameRefusal(name, policy), name).toMatch(/ALLOWED_SUFFIXES/)
    }
  })

  it('names the var that is wrong', () => {
    expect(() => readHostnamePolicy({ HOSTNAME_POLICY: 'open' })).toThrow(/HOSTNAME_POLICY/)
  })
})
