/**
 * Which stored certificate a job may serve (issue 16, item 9): only one whose end-entity certificate names every
 * identifier of the job, and only once the job has a certificate of its own. A record left by an earlier job of the
 * same name (deleted and created again with other identifiers while a run of the first was finishing) or by a run
 * that never finished (a job `failed` after a change of CA) is never served.
 */
import { parseCertificate } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'

/** Whether `chain` (PEM, end-entity first) may be served for `job`. */
export function servable(job: Pick<JobRecord, 'identifiers' | 'certificate'>, chain: string): boolean {
  if (!job.certificate) return false
  try {
    const leaf = parseCertificate(chain)
    const names = new Set([...leaf.dnsNames.map((n) => n.toLowerCase()), ...leaf.ipAddresses])
    return job.identifiers.every((identifier) => names.has(identifier))
  } catch {
    return false
  }
}
