/** The one "check with valibot, name the first failing field" step, for server bodies and stored records alike. */
import * as v from 'valibot'

/** Where a value failed its schema: the dotted path of the first issue, and `path: message` text. */
export interface ValidationFailure {
  field: string | undefined
  message: string
}

/** `value` as `schema` says, or whatever `fail` throws for the first issue. */
export function validate<T>(
  schema: v.GenericSchema<unknown, T>,
  value: unknown,
  fail: (failure: ValidationFailure) => never,
): T {
  const result = v.safeParse(schema, value)
  if (result.success) return result.output
  const issue = result.issues[0]
  const field = v.getDotPath(issue) ?? undefined
  return fail({ field, message: `${field ? `${field}: ` : ''}${issue.message}` })
}
