/**
 * A {@link DnsAdapter} over challtestsrv (the DNS server Pebble's VA asks in the scenarios). challtestsrv can
 * only clear all values of a name, so removing one value clears the name and puts the others back.
 */
import type { DnsAdapter } from '../../src/index.ts'
import type { E2EContext } from './context.ts'

export function challtestAdapter(ctx: E2EContext): DnsAdapter & { live: Map<string, string[]> } {
  const live = new Map<string, string[]>()
  return {
    name: 'challtestsrv',
    live,
    async createTxt(name, value) {
      const values = live.get(name) ?? []
      if (values.includes(value)) return
      live.set(name, [...values, value])
      await ctx.dns.addTxt(`${name}.`, value)
    },
    async removeTxt(name, value) {
      const rest = (live.get(name) ?? []).filter((v) => v !== value)
      await ctx.dns.clearTxt(`${name}.`)
      for (const v of rest) await ctx.dns.addTxt(`${name}.`, v)
      if (rest.length) live.set(name, rest)
      else live.delete(name)
    },
  }
}
