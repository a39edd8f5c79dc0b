/**
 * `Orchestrator.resume` on each backend (SQLite, PostgreSQL), through the real engine: an
 * interrupted run continues from its last checkpoint under the same run id and ends with the same
 * sink output as a run never interrupted, each source row recorded once with one outcome per token,
 * and a hash chain `verify` accepts across its attempts. Refusals change nothing and say why.
 * (test/Orchestrator.kill.test.ts does the same with `kill -9` in real processes.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Layer, Schema } from "effect"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { eachBackend, sqlite, type Store } from "./support/backends.js"

const Row = Schema.Struct({ id: Schema.Number, delay: Schema.Number })
type Row = typeof Row.Type
type Late = Row & { readonly late: boolean }

const rows = 600
const records = Array.from({ length: rows }, (_, id) => ({ id, delay: (id * 37) % 100 - 20 }))

/** Where the `hold` step stops every row from `at` on (until the run is interrupted), or `undefined`: nothing held. */
interface Hold {
  at: number | undefined
}

const pipelineIn = (dir: string, hold: Hold, options: { readonly checkConfig?: unknown; readonly extraSink?: boolean } = {}) =>
  Pipeline.make({ name: "resumable", source: Source.fromIterable({ records, schema: Row, name: "generated" }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("check", (r: Row) => (r.id % 97 === 13 ? Effect.fail(new Error(`row ${r.id} is unlucky`)) : Effect.succeed(r)), {
      config: options.checkConfig ?? { unlucky: 97 }
    })),
    Pipeline.transform(Pipeline.makeTransform("hold", (r: Row) => (hold.at !== undefined && r.id >= hold.at ? Effect.never : Effect.succeed(r)))),
    Pipeline.transform(Pipeline.makeTransform("late", (r: Row) => Effect.succeed({ ...r, late: r.delay >= 15 }))),
    Pipeline.gate(Pipeline.makeGate("delay", ["delayed"], (r: Late) => Effect.succeed(r.late ? "delayed" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: {
        on_time: Sink.csv<Late>({ path: join(dir, "on_time.csv"), columns: ["id", "delay", "late"] }),
        delayed: Sink.jsonLines<Late>({ path: join(dir, "delayed.jsonl") }),
        ...(options.extraSink === true ? { audit: Sink.jsonLines<Late>({ path: join(dir, "audit.jsonl") }) } : {})
      },
      default: "on_time",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

/** What the quarantine file says of each row, without the ids that differ from run to run. */
const quarantined = (dir: string) =>
  readFileSync(join(dir, "quarantine.jsonl"), "utf8").split("\n").filter((l) => l !== "").map((l) => {
    const q = JSON.parse(l) as { rowIndex: number; node: string; reason: string; data: unknown }
    return [q.rowIndex, q.node, q.reason, q.data]
  })

const layersOf = (store: Store) => Layer.merge(TestExporter.layer(), store.layer())
type Env = Layer.Layer.Success<ReturnType<typeof layersOf>>

/** Starts a run (or resume) of `pipeline` that holds at `hold.at`, waits until rows before it are committed, and interrupts it. */
const interruptAt = <E>(start: (onProgress: (rowsDone: number) => Effect.Effect<void>) => Effect.Effect<unknown, E, Env>, committed: number) =>
  Effect.gen(function* () {
    const reached = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(start((done) => (done >= committed ? Deferred.succeed(reached, undefined) : Effect.void)))
    yield* Deferred.await(reached)
    yield* Fiber.interrupt(fiber)
  })

eachBackend((backend) => {
  describe("Orchestrator.resume", () => {
    it.live("continues an interrupted run (twice) to the output of a run never interrupted; each row once, one outcome per token; verify passes", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const straight = tempDir()
        yield* Orchestrator.run(pipelineIn(straight, { at: undefined }), { batchSize: 50 }).pipe(Effect.provide(layersOf(store)))

        const dir = tempDir()
        const hold: Hold = { at: 400 }
        const pipeline = pipelineIn(dir, hold)
        const runIdOf = Effect.map(store.exec<{ run_id: string }>("SELECT run_id FROM runs WHERE status = 'interrupted'"), (r) => r[0]!.run_id)
        yield* interruptAt((onProgress) => Orchestrator.run(pipeline, { batchSize: 50, onProgress: (p) => onProgress(p.rowsDone) }), 400).pipe(Effect.provide(layersOf(store)))
        const runId = yield* runIdOf
        hold.at = 500
        yield* interruptAt((onProgress) => Orchestrator.resume(pipeline, runId, { batchSize: 50, onProgress: (p) => onProgress(p.rowsDone) }), 500).pipe(
          Effect.provide(layersOf(store))
        )
        expect(yield* runIdOf).toBe(runId)
        hold.at = undefined
        const summary = yield* Effect.gen(function* () {
          const summary = yield* Orchestrator.resume(pipeline, runId, { batchSize: 50 })
          const exporter = yield* TestExporter.TestExporter
          yield* exporter.assertEmitted("RunFinished", { status: "completed", rowsRead: rows })
          return summary
        }).pipe(Effect.provide(layersOf(store)))
        expect(summary).toMatchObject({ runId, status: "completed", attempt: 3, rowsRead: rows })

        for (const file of ["on_time.csv", "delayed.jsonl"]) {
          expect(readFileSync(join(dir, file), "utf8"), file).toBe(readFileSync(join(straight, file), "utf8"))
        }
        expect(quarantined(dir)).toEqual(quarantined(straight))
        expect(readdirSync(dir).sort()).toEqual(["delayed.jsonl", "on_time.csv", "quarantine.jsonl"])

        const [counts] = yield* store.exec<{ rows: number; indexes: number; tokens: number; open: number }>(`
          SELECT (SELECT count(*) FROM rows WHERE run_id = '${runId}') AS rows,
                 (SELECT count(DISTINCT row_index) FROM rows WHERE run_id = '${runId}') AS indexes,
                 (SELECT count(*) FROM tokens WHERE run_id = '${runId}') AS tokens,
                 (SELECT count(*) FROM tokens WHERE run_id = '${runId}' AND outcome IS NULL) AS open`)
        expect([counts!.rows, counts!.indexes, counts!.tokens, counts!.open].map(Number)).toEqual([rows, rows, rows, 0])
        const resumes = yield* store.exec<{ attempt: number; position: number; previous_status: string }>(
          `SELECT attempt, position, previous_status FROM run_resumes WHERE run_id = '${runId}' ORDER BY attempt`
        )
        expect(resumes.map((r) => [Number(r.attempt), Number(r.position), r.previous_status])).toEqual([[2, 400, "interrupted"], [3, 500, "interrupted"]])
        const [run] = yield* store.exec<{ status: string; rows_read: number }>(`SELECT status, rows_read FROM runs WHERE run_id = '${runId}'`)
        expect([run!.status, Number(run!.rows_read)]).toEqual(["completed", rows])

        const report = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        expect(report).toMatchObject({ ok: true, problems: [] })
        // The end a resume reopened is in the chain: changing how it is kept is found.
        yield* store.exec(`UPDATE run_resumes SET previous_error = 'edited' WHERE run_id = '${runId}' AND attempt = 2`)
        const tampered = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        expect(tampered.ok).toBe(false)
        expect(tampered.problems.filter((p) => p.check === "chain").map((p) => p.message)).toEqual([
          expect.stringMatching(/^link \d+ \(run_end\): its records now hash to/),
          expect.stringMatching(/^link \d+ \(resume\): its records now hash to/),
          "the run's final chain value is not the chain of its records"
        ])
      }))

    it.live("refuses, changing nothing: a completed run, an unknown run, a changed pipeline (naming each change); of two resumes at once one runs", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const refusal = <A, E>(effect: Effect.Effect<A, E, Env>) =>
          Effect.map(Effect.either(Effect.provide(effect, layersOf(store))), (e) => (Either.isLeft(e) ? e.left : undefined))

        const done = yield* Orchestrator.run(pipelineIn(tempDir(), { at: undefined })).pipe(Effect.provide(layersOf(store)))
        expect(yield* refusal(Orchestrator.resume(pipelineIn(tempDir(), { at: undefined }), done.runId))).toMatchObject({ _tag: "ResumeError", reason: "completed" })
        expect(yield* refusal(Orchestrator.resume(pipelineIn(tempDir(), { at: undefined }), "no-such-run"))).toMatchObject({ _tag: "ResumeError", reason: "unknownRun" })

        const dir = tempDir()
        const hold: Hold = { at: 300 }
        yield* interruptAt((onProgress) => Orchestrator.run(pipelineIn(dir, hold), { batchSize: 50, onProgress: (p) => onProgress(p.rowsDone) }), 300).pipe(
          Effect.provide(layersOf(store))
        )
        const [{ run_id: runId }] = (yield* store.exec<{ run_id: string }>("SELECT run_id FROM runs WHERE status = 'interrupted'")) as [{ run_id: string }]
        hold.at = undefined
        const changed = yield* refusal(Orchestrator.resume(pipelineIn(dir, hold, { checkConfig: { unlucky: 89 }, extraSink: true }), runId))
        expect(changed).toMatchObject({ _tag: "ResumeError", reason: "pipelineChanged" })
        expect(changed).toHaveProperty("changes", [
          `transform "check": configuration changed from {"unlucky":97} to {"unlucky":89}`,
          `sink "audit": added`
        ])
        const [still] = yield* store.exec<{ status: string; n: number }>(`SELECT status, (SELECT count(*) FROM run_resumes) AS n FROM runs WHERE run_id = '${runId}'`)
        expect([still!.status, Number(still!.n)]).toEqual(["interrupted", 0])

        const both = yield* Effect.all([
          Effect.either(Orchestrator.resume(pipelineIn(dir, hold), runId)),
          Effect.either(Orchestrator.resume(pipelineIn(dir, hold), runId))
        ], { concurrency: 2 }).pipe(Effect.provide(layersOf(store)))
        expect(both.filter(Either.isRight).map((r) => r.right.attempt)).toEqual([2])
        const left = both.filter(Either.isLeft).map((l) => l.left)
        expect(left).toHaveLength(1)
        expect(["ResumeError", "LandscapeError"]).toContain(left[0]!._tag)
        expect(readFileSync(join(dir, "on_time.csv"), "utf8").trim().split("\n").length).toBeGreaterThan(1)
      }))
  })
})

describe("Orchestrator.resume with a CSV source", () => {
  const csvPipeline = (dir: string, hold: Hold) =>
    Pipeline.make({ name: "csv", source: Source.csv({ path: join(dir, "in.csv"), schema: Schema.Struct({ id: Schema.NumberFromString, delay: Schema.NumberFromString }) }) }).pipe(
      Pipeline.transform(Pipeline.makeTransform("hold", (r: Row) => (hold.at !== undefined && r.id >= hold.at ? Effect.never : Effect.succeed(r)))),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Row>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    )
  const csv = ["id,delay", ...records.map((r) => `${r.id},${r.delay}`)].join("\n") + "\n"
  /** A run of the CSV pipeline in a new folder, interrupted once the rows before 300 are committed. */
  const interrupted = (store: Store) =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "in.csv"), csv)
      const hold: Hold = { at: 300 }
      yield* interruptAt((onProgress) => Orchestrator.run(csvPipeline(dir, hold), { batchSize: 50, onProgress: (p) => onProgress(p.rowsDone) }), 300).pipe(
        Effect.provide(layersOf(store))
      )
      const [{ run_id: runId, state_json: state }] = (yield* store.exec<{ run_id: string; state_json: string }>(
        "SELECT run_id, state_json FROM run_checkpoints"
      )) as [{ run_id: string; state_json: string }]
      hold.at = undefined
      return { dir, hold, runId, cursor: (JSON.parse(state) as { source: { bytes: number; line: number } }).source }
    })

  it.live("reads on from the checkpoint's byte offset: the lines before it are not read again", () =>
    Effect.gen(function* () {
      const store = yield* sqlite.fresh()
      const { cursor, dir, hold, runId } = yield* interrupted(store)
      expect(cursor).toMatchObject({ bytes: Buffer.byteLength(csv.split("\n").slice(0, 301).join("\n") + "\n"), line: 301 })
      // The lines before the offset blanked out, keeping their bytes: read again, the rows after would take their indexes.
      const text = readFileSync(join(dir, "in.csv"), "utf8")
      const head = text.slice(text.indexOf("\n") + 1, cursor.bytes - 1 - "299,".length - String(records[299]!.delay).length)
      writeFileSync(join(dir, "in.csv"), text.replace(head, head.replace(/[0-9,-]/g, "\n")))
      const summary = yield* Orchestrator.resume(csvPipeline(dir, hold), runId).pipe(Effect.provide(layersOf(store)))
      expect(summary).toMatchObject({ rowsRead: rows, quarantined: 0 })
      const ids = readFileSync(join(dir, "out.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as Row).id)
      expect(ids).toEqual(records.map((r) => r.id))
    }))

  it.live("fails with SourceError when the file changed where the checkpoint stands", () =>
    Effect.gen(function* () {
      const store = yield* sqlite.fresh()
      const { dir, hold, runId } = yield* interrupted(store)
      writeFileSync(join(dir, "in.csv"), csv.replace("\n5,", "\n5555,"))
      const failed = yield* Effect.flip(Orchestrator.resume(csvPipeline(dir, hold), runId).pipe(Effect.provide(layersOf(store))))
      expect(failed).toMatchObject({ _tag: "SourceError", message: expect.stringContaining("the file changed since the run's checkpoint: line 301 no longer ends at byte") })
    }))
})
