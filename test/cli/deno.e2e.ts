import { cliSuite } from './suite.ts'

cliSuite('deno')
