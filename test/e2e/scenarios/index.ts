/** Every end-to-end scenario, in the order runners run them. */
import type { Scenario } from '../context.ts'
import { accountScenarios } from './accounts.ts'
import { certificateScenarios } from './certificates.ts'
import { issuanceScenarios } from './issuance.ts'
import { issueFlowScenarios } from './issue-flow.ts'

export const scenarios: Scenario[] = [
  ...issuanceScenarios,
  ...issueFlowScenarios,
  ...accountScenarios,
  ...certificateScenarios,
]
