/** `--directory` presets: short names for the public ACME CAs' directory URLs. */
import { directories } from 'webacme'
import { UsageError } from './exit-codes.ts'

export const PRESETS: Readonly<Record<string, string>> = {
  letsencrypt: directories.letsencrypt.production,
  'letsencrypt-staging': directories.letsencrypt.staging,
  zerossl: directories.zerossl.production,
  google: directories.google.production,
  'google-staging': directories.google.staging,
  buypass: directories.buypass.production,
  'buypass-staging': directories.buypass.staging,
  'sslcom-rsa': directories.sslcom.rsa,
  'sslcom-ecc': directories.sslcom.ecc,
  actalis: directories.actalis.production,
}

/** The directory URL of a preset name or a URL; anything else is a usage error. */
export function resolveDirectory(value: string): string {
  const preset = PRESETS[value.toLowerCase()]
  if (preset) return preset
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(
      `--directory must be a URL or one of ${Object.keys(PRESETS).join(', ')}; got ${JSON.stringify(value)}`,
    )
  }
  if (url.protocol !== 'https:') throw new UsageError(`--directory must be an https: URL, got ${value}`)
  return url.href
}
