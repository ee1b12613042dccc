/** Directory URLs of public ACME CAs (RFC 8555 §7.1.1), so callers need not copy them around. */
export const directories: {
  readonly letsencrypt: { readonly production: string; readonly staging: string }
  readonly google: { readonly production: string; readonly staging: string }
  readonly zerossl: { readonly production: string }
  readonly buypass: { readonly production: string; readonly staging: string }
  readonly sslcom: { readonly rsa: string; readonly ecc: string }
  readonly actalis: { readonly production: string }
} = {
  letsencrypt: {
    production: 'https://acme-v02.api.letsencrypt.org/directory',
    staging: 'https://acme-staging-v02.api.letsencrypt.org/directory',
  },
  google: {
    production: 'https://dv.acme-v02.api.pki.goog/directory',
    staging: 'https://dv.acme-v02.test-api.pki.goog/directory',
  },
  zerossl: { production: 'https://acme.zerossl.com/v2/DV90' },
  buypass: {
    production: 'https://api.buypass.com/acme/directory',
    staging: 'https://api.test4.buypass.no/acme/directory',
  },
  sslcom: {
    rsa: 'https://acme.ssl.com/sslcom-dv-rsa',
    ecc: 'https://acme.ssl.com/sslcom-dv-ecc',
  },
  actalis: { production: 'https://acme-api.actalis.com/acme/directory' },
}
