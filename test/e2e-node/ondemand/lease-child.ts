/**
 * Takes the lease `KEY` in the FsStorage at STORAGE_DIR for TTL ms, prints `LEASE <json>` and then hangs, holding
 * it, until it is killed: the crashed holder of ../lease-crash.test.ts.
 */
import * as fs from 'node:fs/promises'
import { FsStorage } from '../../../src/storage/fs.ts'

const storage = new FsStorage(process.env.STORAGE_DIR!, { fs })
const lease = await storage.tryLock(process.env.KEY!, Number(process.env.TTL))
process.stdout.write(`LEASE ${JSON.stringify(lease ?? null)}\n`)
setInterval(() => {}, 1 << 30)
