/**
 * WAL checkpoints run in a worker thread (src/landscape/checkpointer.ts): with automatic
 * checkpoints off on the writer, the log must still be folded back while a run writes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { existsSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { Landscape, LandscapeSqlite, Orchestrator, TestExporter } from "../src/index.js"
import { ordersPipeline, tempDir } from "./helpers.js"

/** A Landscape file in a fresh folder with one run in it (so migrated), and the layer that writes it. */
const migratedLandscape = Effect.gen(function* () {
  const dir = tempDir()
  const db = join(dir, "landscape.db")
  const layer = Layer.merge(TestExporter.layer({ granularity: "lifecycle" }), LandscapeSqlite.layer({ filename: db }))
  yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(layer))
  return { dir, db, layer }
})

/** Another connection to `file`, in a worker thread running `body` with `db` (better-sqlite3) and `parentPort` in scope. */
const otherConnection = (file: string, body: string) =>
  new Worker(`
    const { parentPort, workerData } = require("node:worker_threads")
    const db = new (require(workerData.driver))(workerData.db)
    ${body}`, { eval: true, workerData: { db: file, driver: createRequire(import.meta.url).resolve("better-sqlite3") } })

describe("LandscapeSqlite WAL checkpoints", () => {
  it.live("keep the log bounded during a long run (a log that is never checkpointed grows with the database)", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const records = Array.from({ length: 30_000 }, (_, i) => ({ id: String(i), customer: "c", amount: String(i % 300) }))
      let largestWal = 0
      const watch = yield* Effect.fork(Effect.forever(Effect.zipRight(
        Effect.sync(() => void (largestWal = Math.max(largestWal, existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0))),
        Effect.sleep("50 millis")
      )))
      yield* Orchestrator.run(ordersPipeline(dir, records)).pipe(Effect.provide(Layer.merge(TestExporter.layer({ granularity: "lifecycle" }), LandscapeSqlite.layer({ filename: db }))))
      yield* Fiber.interrupt(watch)
      const database = statSync(db).size
      expect(database).toBeGreaterThan(30 * 1024 * 1024)
      // Passive checkpoints alone let the log outgrow the database (93 MB beside 64 MB here); with
      // the restart at 16 MiB it peaked at 20-23 MB while the run wrote about 16 MB a second.
      expect(largestWal).toBeLessThan(database * 0.6)
    }), 120_000)

  it.live("while another connection takes the write lock 30 ms of every 40, a run completes and verifies", () =>
    Effect.gen(function* () {
      const { db, dir, layer } = yield* migratedLandscape
      // Another connection, in another thread (a `sightline purge`, the checkpointer's restart),
      // takes the write lock for 30 ms of every 40 while a run writes: each of the run's
      // transactions waits for it (its first statement takes the lock) or, refused, is run again.
      const holder = otherConnection(db, `
        const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
        let held = 0, stop = false
        parentPort.on("message", () => { stop = true })
        const round = () => {
          if (stop) { db.close(); parentPort.postMessage(held); return }
          db.exec("BEGIN IMMEDIATE"); held++; pause(30); db.exec("COMMIT")
          setTimeout(round, 10)
        }
        round()`)
      const records = Array.from({ length: 3_000 }, (_, i) => ({ id: String(i), customer: "c", amount: String(i % 300) }))
      const summary = yield* Orchestrator.run(ordersPipeline(dir, records)).pipe(Effect.provide(layer))
      const held = yield* Effect.async<number>((resume) => {
        holder.once("message", (n: number) => resume(Effect.succeed(n)))
        holder.postMessage("stop")
      })
      expect(held).toBeGreaterThan(3)
      expect(summary).toMatchObject({ status: "completed", rowsRead: 3_000, quarantined: 0 })
      expect((yield* Landscape.verify(summary.runId).pipe(Effect.provide(layer))).ok).toBe(true)
    }), 120_000)

  it.live("a writer holding the lock longer than the retries last is waited for, not refused (the write lock is taken first)", () =>
    Effect.gen(function* () {
      const { db, dir, layer } = yield* migratedLandscape
      // One stretch of 4.5 s: longer than the SQLITE_BUSY retries (~4.1 s in all), shorter than the
      // busy handler's 5 s. A transaction that reads the chain head before it writes is refused at
      // once each time; one whose first statement writes waits in the busy handler.
      const holder = otherConnection(db, `
        db.exec("BEGIN IMMEDIATE")
        parentPort.postMessage("held")
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4500)
        db.exec("COMMIT")
        db.close()`)
      yield* Effect.async<void>((resume) => void holder.once("message", () => resume(Effect.void)))
      const started = Date.now()
      const summary = yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(layer))
      expect(Date.now() - started).toBeGreaterThan(3_000)
      expect(summary).toMatchObject({ status: "completed" })
      expect((yield* Landscape.verify(summary.runId).pipe(Effect.provide(layer))).ok).toBe(true)
      yield* Effect.promise(() => holder.terminate())
    }), 60_000)
})
