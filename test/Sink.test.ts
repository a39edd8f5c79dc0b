/**
 * File sinks through the real engine: output replaced only by a completed run, partial output of
 * a failed run set aside and recorded, CSV columns that never lose a field, operations that always end.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const layers = (db: string) => Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))
const Row = Schema.Struct({ n: Schema.Number, label: Schema.String })
type Row = typeof Row.Type

/** A source that yields `good` rows, then fails. */
const failingSource = (good: number) =>
  Source.make({
    name: "flaky",
    schema: Row,
    records: Stream.concat(
      Stream.fromIterable(Array.from({ length: good }, (_, n) => ({ raw: { n, label: `r${n}` } }))),
      Stream.fail(new Source.SourceError({ source: "flaky", message: "connection reset" }))
    )
  })

const pipelineOf = <R>(dir: string, source: Source.Source<Row, R>, csv: Partial<Parameters<typeof Sink.csv<Row>>[0]> = {}) =>
  Pipeline.make({ name: "files", source }).pipe(
    Pipeline.toSinks({
      sinks: { out: Sink.csv<Row>({ path: join(dir, "out.csv"), ...csv }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

describe("file sinks replace their output only when the run completes", () => {
  it.live("a failed run leaves the previous output untouched and its partial output beside it, recorded in the sink's operation", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const good = Source.fromIterable({ records: [{ n: 1, label: "previous" }], schema: Row })
      yield* Orchestrator.run(pipelineOf(dir, good)).pipe(Effect.provide(layers(db)))
      const before = readFileSync(join(dir, "out.csv"), "utf8")
      expect(before).toBe("n,label\n1,previous\n")

      const exit = yield* Effect.exit(Orchestrator.run(pipelineOf(dir, failingSource(3))).pipe(Effect.provide(layers(db))))
      expect(Exit.isFailure(exit) && Option.getOrUndefined(Cause.failureOption(exit.cause))?._tag).toBe("SourceError")
      expect(readFileSync(join(dir, "out.csv"), "utf8")).toBe(before)
      const [run] = yield* querySqlite<{ run_id: string; status: string }>(db, "SELECT run_id, status FROM runs WHERE status = 'failed'")
      const partial = join(dir, `out.partial-${run!.run_id}.csv`)
      // The rows read before the failure were committed, so they are in the partial output.
      expect(readFileSync(partial, "utf8")).toBe("n,label\n0,r0\n1,r1\n2,r2\n")
      const ops = yield* querySqlite<{ name: string; status: string; error: string; details_json: string }>(db,
        `SELECT nodes.name, operations.status, operations.error, operations.details_json FROM operations JOIN nodes USING (node_id)
         WHERE operations.run_id = '${run!.run_id}' ORDER BY nodes.position`)
      expect(ops.map((o) => [o.name, o.status])).toEqual([["flaky", "failed"], ["out", "failed"], ["quarantine", "failed"]])
      expect(ops.every((o) => o.error === "connection reset")).toBe(true)
      expect(JSON.parse(ops[1]!.details_json)).toMatchObject({ path: join(dir, "out.csv"), partialPath: partial, rows: 3 })
    }))

  it.live("a completed run moves its output into place and leaves no partial file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      yield* Orchestrator.run(pipelineOf(dir, Source.fromIterable({ records: [{ n: 1, label: "a" }], schema: Row }))).pipe(Effect.provide(layers(join(dir, "l.db"))))
      expect(readdirSync(dir).filter((f) => f.includes(".partial-"))).toEqual([])
      expect(readFileSync(join(dir, "out.csv"), "utf8")).toBe("n,label\n1,a\n")
    }))

  it.live("a sink that cannot be opened fails the run with SinkError, and every operation ends failed", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      writeFileSync(join(dir, "blocked"), "a file where the sink's folder should be")
      const pipeline = Pipeline.make({ name: "blocked", source: Source.fromIterable({ records: [{ n: 1, label: "a" }], schema: Row }) }).pipe(
        Pipeline.toSinks({
          sinks: { first: Sink.jsonLines({ path: join(dir, "first.jsonl") }), out: Sink.jsonLines({ path: join(dir, "blocked", "out.jsonl") }) },
          default: "out",
          quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
        })
      )
      const exit = yield* Effect.exit(Orchestrator.run(pipeline).pipe(Effect.provide(layers(db))))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      expect(error?._tag).toBe("SinkError")
      expect(error?.message).toMatch(/blocked/)
      const ops = yield* querySqlite<{ status: string }>(db, "SELECT status FROM operations")
      expect(ops.map((o) => o.status)).toEqual(["failed", "failed", "failed"])
      const [run] = yield* querySqlite<{ status: string; error: string }>(db, "SELECT status, error FROM runs")
      expect(run).toMatchObject({ status: "failed" })
      expect(run!.error).toMatch(/ENOTDIR|EEXIST/)
    }))
})

describe("CSV sink columns", () => {
  it.live("columns come from the schema; a row with a field outside them is quarantined with the reason, not written without it", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const source = Source.fromIterable({ records: [{ n: 1, label: "a" }, { n: 2, label: "b" }], schema: Row })
      const pipeline = Pipeline.make({ name: "extra", source }).pipe(
        Pipeline.transform(Pipeline.makeTransform("widen", (r: Row) => Effect.succeed(r.n === 2 ? { ...r, extra: "lost?" } : r))),
        Pipeline.toSinks({
          sinks: { out: Sink.csv<Row>({ path: join(dir, "out.csv"), schema: Row }) },
          default: "out",
          quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
        })
      )
      const summary = yield* Orchestrator.run(pipeline).pipe(Effect.provide(layers(db)))
      expect(summary).toMatchObject({ rowsPerSink: { out: 1 }, quarantined: 1 })
      expect(readFileSync(join(dir, "out.csv"), "utf8")).toBe("n,label\n1,a\n")
      const [q] = readFileSync(join(dir, "q.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
      expect(q).toMatchObject({ rowIndex: 1, node: "out" })
      expect(q.reason).toBe(`sink "out" refused the row: field "extra" is not a column of ${join(dir, "out.csv")} (columns: n, label)`)
      const [state] = yield* querySqlite<{ name: string; error_json: string }>(db,
        "SELECT nodes.name, error_json FROM node_states JOIN nodes USING (node_id) WHERE status = 'failed'")
      expect(state!.name).toBe("out")
      expect(JSON.parse(state!.error_json)).toMatchObject({ kind: "sink", sink: "out" })
    }))

  it.live("a run that writes no rows still writes the header; append mode adds rows without repeating it", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      yield* Orchestrator.run(pipelineOf(dir, Source.fromIterable({ records: [], schema: Row }), { columns: ["n", "label"] })).pipe(Effect.provide(layers(db)))
      expect(readFileSync(join(dir, "out.csv"), "utf8")).toBe("n,label\n")
      for (const n of [1, 2]) {
        yield* Orchestrator.run(pipelineOf(dir, Source.fromIterable({ records: [{ n, label: `run ${n}` }], schema: Row }), { columns: ["n", "label"], append: true }))
          .pipe(Effect.provide(layers(db)))
      }
      expect(readFileSync(join(dir, "out.csv"), "utf8")).toBe("n,label\n1,run 1\n2,run 2\n")
    }))

  it.live("without columns or schema, the first row's fields fix the columns", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      mkdirSync(join(dir, "nested"))
      const summary = yield* Orchestrator.run(
        Pipeline.make({ name: "first", source: Source.fromIterable({ records: [{ n: 1, label: "a" }, { n: 2, label: "b" }], schema: Row }) }).pipe(
          Pipeline.toSinks({ sinks: { out: Sink.csv({ path: join(dir, "nested", "out.csv") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
        )
      ).pipe(Effect.provide(layers(join(dir, "l.db"))))
      expect(summary.rowsPerSink.out).toBe(2)
      expect(readFileSync(join(dir, "nested", "out.csv"), "utf8")).toBe("n,label\n1,a\n2,b\n")
      expect(existsSync(join(dir, "q.jsonl"))).toBe(true)
    }))
})

describe("a sink that fails to write", () => {
  it.live("fails the run with SinkError; the batch's tokens for that sink are recorded failed, the batches before stay routed", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      let batches = 0
      const flaky = Sink.make<Row, never>({
        open: () => Effect.succeed({
          write: () => (++batches === 2 ? Effect.fail(new Sink.SinkError({ sink: "flaky", message: "disk full" })) : Effect.void)
        })
      })
      const pipeline = Pipeline.make({ name: "flaky", source: Source.fromIterable({ records: Array.from({ length: 10 }, (_, n) => ({ n, label: "x" })), schema: Row }) }).pipe(
        Pipeline.toSinks({ sinks: { out: flaky }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const exit = yield* Effect.exit(Orchestrator.run(pipeline, { batchSize: 4 }).pipe(Effect.provide(layers(db))))
      expect(Exit.isFailure(exit) && Option.getOrUndefined(Cause.failureOption(exit.cause))).toMatchObject({ _tag: "SinkError", message: "disk full" })
      const tokens = yield* querySqlite<{ row_index: number; outcome: string }>(db,
        "SELECT rows.row_index, tokens.outcome FROM tokens JOIN rows USING (row_id) ORDER BY rows.row_index")
      expect(tokens.map((t) => t.outcome)).toEqual(["routed", "routed", "routed", "routed", "failed", "failed", "failed", "failed"])
      const [run] = yield* querySqlite<{ status: string; error: string; rows_read: number }>(db, "SELECT status, error, rows_read FROM runs")
      expect(run).toMatchObject({ status: "failed", error: "disk full", rows_read: 8 })
    }))
})

describe("file sinks in a distributed run", () => {
  it.scoped("write a partition apart, and a takeover continues the attempt before up to its checkpoint, cutting off what it wrote after", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const sink = Sink.csv<{ n: number }>({ path: join(dir, "out.csv"), columns: ["n"] })
      const partition = { index: 2, count: 3, attempt: 1 }
      const first = yield* Effect.scoped(Effect.gen(function* () {
        const writer = yield* sink.open({ runId: "r", name: "out", partition })
        yield* writer.write([{ n: 1 }, { n: 2 }])
        const checkpoint = writer.checkpoint!()
        // Written after the checkpoint (the worker died before its batch was committed).
        yield* writer.write([{ n: 3 }])
        return checkpoint
      }))
      expect(first.partialPath).toBe(join(dir, "out.part-2.partial-r-1.csv"))
      expect(readFileSync(first.partialPath as string, "utf8")).toBe("n\n1\n2\n3\n")

      const writer = yield* sink.open({ runId: "r", name: "out", partition: { ...partition, attempt: 2 }, resume: first })
      yield* writer.write([{ n: 4 }])
      expect(writer.checkpoint!()).toMatchObject({ partialPath: join(dir, "out.part-2.partial-r-2.csv"), resumedFrom: [first.partialPath] })
      yield* writer.commit!
      expect(readFileSync(join(dir, "out.part-2.csv"), "utf8")).toBe("n\n1\n2\n4\n")
      expect(readdirSync(dir).sort()).toEqual(["out.part-2.csv"])
    }))

  it.scoped("refuse to continue a checkpoint whose partial output is gone, saying why", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const sink = Sink.jsonLines({ path: join(dir, "out.jsonl") })
      const resume = { partialPath: join(dir, "elsewhere.partial.jsonl"), bytes: 10, resumedFrom: [] }
      const error = yield* Effect.flip(sink.open({ runId: "r", name: "out", partition: { index: 0, count: 2, attempt: 2 }, resume }))
      expect(error.message).toContain("a worker continuing a partition needs the same file system")
    }))
})

describe("file sinks in a distributed run, continued after the output was committed", () => {
  it.scoped("continue from the committed output when the attempt before moved it into place and died before completing its partition", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const sink = Sink.jsonLines<{ n: number }>({ path: join(dir, "out.jsonl") })
      const partition = { index: 0, count: 2, attempt: 1 }
      const checkpoint = yield* Effect.scoped(Effect.gen(function* () {
        const writer = yield* sink.open({ runId: "r", name: "out", partition })
        yield* writer.write([{ n: 1 }])
        const cp = writer.checkpoint!()
        yield* writer.commit!
        return cp
      }))
      const writer = yield* sink.open({ runId: "r", name: "out", partition: { ...partition, attempt: 2 }, resume: checkpoint })
      yield* writer.commit!
      expect(readFileSync(join(dir, "out.part-0.jsonl"), "utf8")).toBe(`{"n":1}\n`)
    }))
})
