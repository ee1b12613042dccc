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
    const file = process.env.WEBACME_SUMMARY_FILE
    if (file) writeFileSync(file, `${JSON.stringify(counts)}\n`)
    const line = formatSummary(counts, file ? 'vitest' : undefined)
    if (this.vitest) this.vitest.logger.log(line)
    else console.log(line)
  }
}
