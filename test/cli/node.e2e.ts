import { cliSuite } from './suite.ts'

cliSuite('node')
