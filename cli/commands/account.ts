/** `webacme account create|show|update|rollover|deactivate` (RFC 8555 §7.3). */
import { type Account, saveAccount } from 'webacme'
import { ACCOUNT_OPTIONS, DIRECTORY_OPTION, ensureAccount, openAccount } from '../account.ts'
import { flag, list, type OptionSpecs, parse, required, str, usageText } from '../args.ts'
import type { Command, CommandResult, Context } from '../context.ts'
import { UsageError } from '../exit-codes.ts'
import { keySpec, readOrCreateKey } from '../keys.ts'

const OPTIONS: OptionSpecs = {
  ...DIRECTORY_OPTION,
  ...ACCOUNT_OPTIONS,
  'no-email': { type: 'boolean', help: 'update: remove every contact' },
  'new-key': { type: 'string', value: 'FILE', help: 'rollover: the new account key (created when missing)' },
  'new-key-type': { type: 'string', value: 'TYPE', help: 'rollover: type of a new key (default ec256)' },
  yes: { type: 'boolean', help: 'deactivate: confirm (an account cannot be reactivated)' },
}

const ACTIONS = ['create', 'show', 'update', 'rollover', 'deactivate'] as const
type Action = (typeof ACTIONS)[number]

const SYNOPSIS = `webacme account ${ACTIONS.join('|')} --directory URL|PRESET (--account-key FILE | --storage DIR) [options]

  create      create the account (needs --agree-tos; the key file is created when missing)
  show        the account of the key, and the CA's terms of service
  update      replace the contacts with --email ... (or --no-email)
  rollover    change the account key to --new-key FILE (RFC 8555 §7.3.5)
  deactivate  deactivate the account for good (needs --yes)`

function accountJson(account: Account): Record<string, unknown> {
  return {
    url: account.url,
    status: account.status,
    ...(account.contact && { contact: account.contact }),
    ...(account.orders && { orders: account.orders }),
  }
}

function accountText(account: Account): string[] {
  return [
    `account  ${account.url}`,
    `status   ${account.status}`,
    ...(account.contact?.length ? [`contact  ${account.contact.join(', ')}`] : []),
  ]
}

async function run(argv: string[], base: Omit<Context, 'values' | 'positionals'>): Promise<CommandResult> {
  const { values, positionals } = parse(argv, OPTIONS, { min: 1, max: 1 })
  const action = positionals[0] as Action
  if (!ACTIONS.includes(action)) throw new UsageError(`unknown account action ${JSON.stringify(action)}`)
  const ctx: Context = { ...base, values, positionals }
  const { reporter, signal } = ctx
  if (values['account-key'] === undefined && values.storage === undefined) {
    throw new UsageError('--account-key FILE or --storage DIR is required')
  }
  if (action === 'create' && !flag(values, 'agree-tos')) {
    throw new UsageError("account create needs your agreement to the CA's terms of service: pass --agree-tos")
  }
  if (action === 'deactivate' && !flag(values, 'yes')) {
    throw new UsageError('account deactivate cannot be undone: pass --yes to confirm')
  }
  if (action === 'rollover') required(values, 'new-key', 'for rollover')
  if (action === 'update' && list(values, 'email').length === 0 && !flag(values, 'no-email')) {
    throw new UsageError('account update needs --email ADDRESS (repeatable) or --no-email')
  }

  const opened = await openAccount(ctx, { createKey: action === 'create' })
  const { client } = opened
  const directory = await client.directory({ signal })
  const terms = directory.meta?.termsOfService
  const { url } = await ensureAccount(ctx, opened)
  let result: Account
  const extra: Record<string, unknown> = {}
  const text: string[] = []
  switch (action) {
    case 'create':
    case 'show':
      result = await client.getAccount({ signal })
      break
    case 'update':
      result = await client.updateAccount({ contact: list(values, 'email') }, { signal })
      break
    case 'rollover': {
      const newKeyPath = required(values, 'new-key')
      const { keys, created } = await readOrCreateKey(
        newKeyPath,
        keySpec(str(values, 'new-key-type'), 'new-key-type'),
        'new account key',
      )
      if (created) reporter.step(`new key written to ${newKeyPath}`)
      result = await client.changeAccountKey(keys, { signal })
      reporter.step('the CA now knows the account by the new key')
      if (opened.storage) await saveAccount(opened.storage, opened.accountName, client)
      const keyFile = str(values, 'account-key')
      extra.newKey = newKeyPath
      text.push(`account key is now ${newKeyPath}${keyFile ? ` (${keyFile} no longer works)` : ''}`)
      break
    }
    case 'deactivate':
      result = await client.deactivateAccount({ signal })
      break
  }
  return {
    json: {
      action,
      account: accountJson({ ...result, url }),
      ...(terms && { termsOfService: terms }),
      ...extra,
    },
    text: [...accountText({ ...result, url }), ...(terms ? [`terms    ${terms}`] : []), ...text],
  }
}

export const account: Command = {
  name: 'account',
  summary: 'create, show, update, roll over or deactivate an ACME account',
  usage: () => usageText(SYNOPSIS, OPTIONS),
  run,
}
