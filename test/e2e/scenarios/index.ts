/** Every end-to-end scenario, in the order runners run them. */
import type { Scenario } from '../context.ts'
import { accountScenarios } from './accounts.ts'
import { certificateScenarios } from './certificates.ts'
import { issuanceScenarios } from './issuance.ts'

export const scenarios: Scenario[] = [...issuanceScenarios, ...accountScenarios, ...certificateScenarios]
