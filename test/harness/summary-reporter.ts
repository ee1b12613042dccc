// Vitest reporter that ends the run with one machine-readable line: `N passed, N failed[, N skipped]`.
//
// Counts individual test cases. A file or hook that failed without a failing test (syntax error,
// failing beforeAll/afterAll, ...) counts as one failed test, and so does each unhandled error, so a
// broken file can never look green. When WEBACME_SUMMARY_FILE is set (scripts/test.mjs does), the
// counts are also written there as JSON and the line is prefixed with `vitest:`, because the runner
// then prints the grand total of every step as the last line.

import { writeFileSync } from 'node:fs'
import type { Reporter, SerializedError, TestModule, TestRunEndReason, Vitest } from 'vitest/node'

export interface SummaryCounts {
  passed: number
  failed: number
  skipped: number
}

/** One failed test (or file, or unhandled error) by name, with the first line of its error. */
export interface SummaryFailure {
  name: string
  error: string
}

function firstLine(message: string | undefined): string {
  const line = (message ?? '').split('\n').find((l) => l.trim() !== '') ?? ''
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/** Names every failure countResults counts, so the end of a long log says what failed. */
export function listFailures(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
): SummaryFailure[] {
  const failures: SummaryFailure[] = []
  for (const module of testModules) {
    let failedHere = 0
    for (const test of module.children.allTests()) {
      const result = test.result()
      if (result.state === 'passed' || result.state === 'skipped') continue
      failedHere++
      failures.push({
        name: `${module.moduleId.split('/test/').pop() ?? module.moduleId} > ${test.fullName}`,
        error: firstLine(result.errors?.[0]?.message) || result.state,
      })
    }
    if (failedHere > 0) continue
    const error = module.errors()[0] ?? [...module.children.allSuites()].flatMap((s) => s.errors())[0]
    if (module.state() === 'failed' || error)
      failures.push({
        name: module.moduleId.split('/test/').pop() ?? module.moduleId,
        error: firstLine(error?.message),
      })
  }
  for (const error of unhandledErrors)
    failures.push({ name: 'unhandled error', error: firstLine(error.message) })
  return failures
}

export function formatSummary(counts: SummaryCounts, label?: string): string {
  const line = `${counts.passed} passed, ${counts.failed} failed${counts.skipped > 0 ? `, ${counts.skipped} skipped` : ''}`
  return label ? `${label}: ${line}` : line
}

export function countResults(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
  reason: TestRunEndReason,
): SummaryCounts {
  const counts: SummaryCounts = { passed: 0, failed: 0, skipped: 0 }
  for (const module of testModules) {
    let failedHere = 0
    for (const test of module.children.allTests()) {
      const state = test.result().state
      if (state === 'passed') counts.passed++
      else if (state === 'skipped') counts.skipped++
      else failedHere++ // failed, or still pending when the run ended
    }
    const suitesFailed =
      module.state() === 'failed' ||
      module.errors().length > 0 ||
      [...module.children.allSuites()].some((s) => s.state() === 'failed' || s.errors().length > 0)
    if (failedHere === 0 && suitesFailed) failedHere = 1
    counts.failed += failedHere
  }
  counts.failed += unhandledErrors.length
  if (reason !== 'passed' && counts.failed === 0) counts.failed = 1
  return counts
}

export default class SummaryReporter implements Reporter {
  private vitest: Vitest | undefined

  onInit(vitest: Vitest): void {
    this.vitest = vitest
  }

  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    const counts = countResults(testModules, unhandledErrors, reason)
    const failures = listFailures(testModules, unhandledErrors)
    const file = process.env.WEBACME_SUMMARY_FILE
    if (file) writeFileSync(file, `${JSON.stringify({ ...counts, failures })}\n`)
    const line = formatSummary(counts, file ? 'vitest' : undefined)
    if (this.vitest) this.vitest.logger.log(line)
    else console.log(line)
  }
}
