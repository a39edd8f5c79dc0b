/**
 * Faults through the production path: telemetry failures degrade (invariant 2), Landscape
 * failures are fatal (invariant 3; plugin code that swallows them: `Orchestrator.fatal.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Option, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Exporter, JsonLinesExporter, Landscape, LandscapeSqlite, Orchestrator, Telemetry, TestExporter } from "../src/index.js"
import { ordersPipeline, querySqlite, tempDir } from "./helpers.js"

const landscapeErrorOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause).pipe(Option.getOrUndefined) : undefined

/** A Landscape file whose schema exists (a first, empty run created it). */
const migratedDb = () =>
  Effect.gen(function* () {
    const db = join(tempDir(), "landscape.db")
    yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
    return db
  })

describe("telemetry failures never fail the pipeline", () => {
  it.live("an exporter that throws on every batch: the run completes, sink output is byte-identical, a warning is logged", () =>
    Effect.gen(function* () {
      const plainDir = tempDir()
      yield* Orchestrator.run(ordersPipeline(plainDir)).pipe(
        Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(plainDir, "l.db") })))
      )

      const dir = tempDir()
      const warnings: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(message))
        })
      )
      let attempts = 0
      const broken = Exporter.make({
        name: "broken",
        export: () => {
          attempts++
          throw new Error("exporter exploded")
        }
      })
      const TelemetryLive = Telemetry.layer({
        granularity: "full",
        exporters: [Effect.succeed(broken), JsonLinesExporter.make({ path: join(dir, "events.jsonl") })],
        retry: Schedule.recurs(1)
      })
      const summary = yield* Orchestrator.run(ordersPipeline(dir)).pipe(
        Effect.provide(Layer.merge(TelemetryLive, LandscapeSqlite.layer({ filename: join(dir, "l.db") }))),
        Effect.provide(capture)
      )
      expect(summary.status).toBe("completed")
      for (const file of ["small.csv", "large.jsonl"]) {
        expect(readFileSync(join(dir, file))).toEqual(readFileSync(join(plainDir, file)))
      }
      expect(attempts).toBeGreaterThanOrEqual(2)
      expect(warnings.some((w) => w.includes("broken"))).toBe(true)
      // The healthy exporter got every event of the run (and may also get the hub's health events).
      const tags = readFileSync(join(dir, "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)._tag)
      const engineTags = new Set(["RunStarted", "PhaseChanged", "RowCreated", "TransformCompleted", "GateEvaluated", "TokenCompleted", "RunFinished"])
      expect(tags.filter((t) => engineTags.has(t)).length).toBe(17)
    }))
})

describe("Landscape failures are fatal", () => {
  it.live("a read-only Landscape: the run's Exit fails with LandscapeError", () =>
    Effect.gen(function* () {
      const db = yield* migratedDb()
      const exit = yield* Orchestrator.run(ordersPipeline(tempDir())).pipe(
        Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db, readonly: true }))),
        Effect.exit
      )
      const error = landscapeErrorOf(exit)
      expect(error).toBeInstanceOf(Landscape.LandscapeError)
      expect(error).toMatchObject({ _tag: "LandscapeError", operation: "beginRun" })
      expect(String((error as Landscape.LandscapeError).message)).toMatch(/readonly/)
    }))

  it.live("a Landscape that stops accepting writes mid-run fails the run with LandscapeError and records it failed", () =>
    Effect.gen(function* () {
      const db = yield* migratedDb()
      yield* querySqlite(db, `CREATE TRIGGER full_disk BEFORE INSERT ON node_states
        WHEN (SELECT count(*) FROM node_states) >= 4 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)
      const records = Array.from({ length: 10 }, (_, i) => ({ id: String(i), customer: "c", amount: "1" }))
      const exit = yield* Orchestrator.run(ordersPipeline(tempDir(), records), { batchSize: 2 }).pipe(
        Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))),
        Effect.exit
      )
      expect(landscapeErrorOf(exit)).toMatchObject({ _tag: "LandscapeError", operation: "recordBatch" })
      const [run] = yield* querySqlite<{ status: string; error: string }>(db, "SELECT status, error FROM runs")
      expect(run?.status).toBe("failed")
      expect(run?.error).toMatch(/disk is full/)
    }))
})
