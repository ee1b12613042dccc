// The signer against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30
// vectors, formerly at https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html; a copy is
// vendored at github.com/bazelbuild/bazel, third_party/aws-sig-v4-test-suite/). Each case embeds the .req
// input and the expected .creq / .sts / .authz text of the suite, verbatim.
import { describe, expect, it } from 'vitest'
import { signAwsRequest } from './aws-sigv4.ts'

const SUITE = {
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  region: 'us-east-1',
  service: 'service',
  date: new Date('2015-08-30T12:36:00Z'),
}
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

describe('signAwsRequest against the SigV4 test suite', () => {
  it('get-vanilla', async () => {
    // get-vanilla.req: "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z"
    const signed = await signAwsRequest({ method: 'GET', url: 'https://example.amazonaws.com/' }, SUITE)
    expect(signed.canonicalRequest).toBe(
      `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`,
    )
    expect(signed.stringToSign).toBe(
      'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    )
    expect(signed.headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    )
    expect(signed.headers['x-amz-date']).toBe('20150830T123600Z')
    expect(signed.headers).not.toHaveProperty('host') // fetch sets Host itself
  })

  it('get-vanilla-query-order-key (sorted by name, then value)', async () => {
    // get-vanilla-query-order-key.req: "GET /?Param1=value2&Param1=Value1 HTTP/1.1"
    const signed = await signAwsRequest(
      { method: 'GET', url: 'https://example.amazonaws.com/?Param1=value2&Param1=Value1' },
      SUITE,
    )
    expect(signed.canonicalRequest).toBe(
      `GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`,
    )
    expect(signed.stringToSign).toBe(
      'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89',
    )
    expect(signed.signature).toBe('eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1')
  })

  it('get-vanilla-utf8-query', async () => {
    const signed = await signAwsRequest({ method: 'GET', url: 'https://example.amazonaws.com/?ሴ=bar' }, SUITE)
    expect(signed.canonicalRequest.split('\n')[2]).toBe('%E1%88%B4=bar')
    expect(signed.signature).toBe('2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04')
  })

  it('get-header-value-trim', async () => {
    // get-header-value-trim.req: "My-Header1: value1" and 'My-Header2: "a   b   c"'
    const signed = await signAwsRequest(
      {
        method: 'GET',
        url: 'https://example.amazonaws.com/',
        headers: { 'My-Header1': ' value1', 'My-Header2': ' "a   b   c"' },
      },
      SUITE,
    )
    expect(signed.canonicalRequest).toContain('my-header1:value1\nmy-header2:"a b c"\n')
    expect(signed.headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
    )
  })

  it('post-x-www-form-urlencoded (body hashed, content-type signed)', async () => {
    // post-x-www-form-urlencoded.req: "Content-Type:application/x-www-form-urlencoded" and body "Param1=value1"
    const signed = await signAwsRequest(
      {
        method: 'POST',
        url: 'https://example.amazonaws.com/',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'Param1=value1',
      },
      SUITE,
    )
    expect(signed.canonicalRequest).toBe(
      'POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e',
    )
    expect(signed.stringToSign).toBe(
      'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281',
    )
    expect(signed.headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
    )
    expect(signed.headers['Content-Type']).toBe('application/x-www-form-urlencoded')
  })

  it('post-sts-header-before (session token signed)', async () => {
    const sessionToken =
      'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=='
    const signed = await signAwsRequest(
      { method: 'POST', url: 'https://example.amazonaws.com/' },
      { ...SUITE, credentials: { ...SUITE.credentials, sessionToken } },
    )
    expect(signed.headers['x-amz-security-token']).toBe(sessionToken)
    expect(signed.headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
    )
  })
})
