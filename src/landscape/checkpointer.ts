/**
 * WAL checkpoints of a SQLite Landscape, in a worker thread.
 *
 * In WAL mode SQLite copies the log back into the database file at a commit once the log passes
 * 1,000 pages ("automatic checkpoint"), synchronously, in the committing connection. With
 * better-sqlite3 that connection is on the event loop's thread: the checkpoints of a run held the
 * loop for 30–60 ms every few batches (measured with `monitorEventLoopDelay`, issue 9). SQLite's
 * documentation suggests the alternative used here (https://www.sqlite.org/wal.html, "Automatic
 * Checkpoint"): the writing connection turns automatic checkpoints off (`wal_autocheckpoint = 0`)
 * and another connection, in a worker thread, checkpoints every `intervalMs` with
 * `wal_checkpoint(PASSIVE)`, which copies the log into the database without blocking the writer.
 * A passive checkpoint never lets the log start over while the writer keeps appending (it grew to
 * 93 MB in a 30,000-row run, measured here), so once the log holds `restartPages` pages the worker
 * also runs `wal_checkpoint(RESTART)`, waiting up to 50 ms for the writer's open transaction: it
 * holds the write lock meanwhile, and the writer's next transaction, whose first statement takes
 * the write lock (`write.ts`, `writeTransaction`), waits for it in the busy handler. A restart that
 * waited in vain is tried again the next round. With no wait at all the restart rarely found the
 * writer between transactions and the log reached 37 MB.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import * as Worker from "../internal/worker.js"

/** The worker, as CommonJS source (no file to resolve, in `src/` under tsx as in `dist/`). */
const source = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename, { fileMustExist: true, timeout: workerData.restartWaitMs })
const checkpoint = () => {
  let log = 0
  try { log = db.pragma("wal_checkpoint(PASSIVE)")[0].log } catch (e) { parentPort.postMessage({ error: String(e && e.message || e) }); return }
  if (log < workerData.restartPages) return
  try { db.pragma("wal_checkpoint(RESTART)") } catch (e) { if (!(e && String(e.code).startsWith("SQLITE_BUSY"))) parentPort.postMessage({ error: String(e && e.message || e) }) }
}
const timer = setInterval(checkpoint, workerData.intervalMs)
parentPort.on("message", () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close() })
`

/**
 * Starts the checkpointer of `filename` in the current scope; closing the scope runs a last
 * checkpoint and stops it. Errors inside the worker are logged, never fatal: a missed checkpoint
 * only lets the log grow until the next one. `restartPages` defaults to 4,096 pages (16 MiB at
 * SQLite's default 4 KiB page), four times the 1,000-page automatic checkpoint it replaces.
 */
export const start = (filename: string, intervalMs = 250, restartPages = 4096): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const errors: Array<string> = []
    // Added before the worker, so it runs after the worker's last checkpoint and stop.
    yield* Effect.addFinalizer(() =>
      errors.length === 0 ? Effect.void : Effect.logWarning(`Landscape: WAL checkpoints of ${filename} failed`, errors)
    )
    const worker = yield* Worker.start(source, { filename, intervalMs, restartPages, restartWaitMs: 50, driver: Worker.resolvePackage("better-sqlite3") })
    worker.on("message", (m: { readonly error?: string }) => void (m.error !== undefined && errors.push(m.error)))
    worker.on("error", (e) => void errors.push(e.message))
  })
