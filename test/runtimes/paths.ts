/** Paths of the repository, for the Node-side launchers. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root: string = join(dirname(fileURLToPath(import.meta.url)), '../..')
/** Scratch space of the runtime runners (bundles, browser profiles); .tmp/ is git-ignored. */
export const scratch: string = join(root, '.tmp/runtimes')
