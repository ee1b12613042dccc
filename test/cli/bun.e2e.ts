import { cliSuite } from './suite.ts'

cliSuite('bun')
