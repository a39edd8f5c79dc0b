/**
 * Bad input through the production path: a malformed row is quarantined and recorded with a clear,
 * short reason, never dropped and never a crash of the run; a source that cannot be read fails the
 * run with the underlying error recorded.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema } from "effect"
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const layers = (db: string) => Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))
const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))

interface QuarantineLine {
  readonly rowIndex: number
  readonly node: string
  readonly reason: string
  readonly data: unknown
}

const Amount = Schema.Struct({ id: Schema.NumberFromString, amount: Schema.NumberFromString })

const csvPipeline = (dir: string, csv: string, steps: (b: Pipeline.Builder<typeof Amount.Type, never, never, "source">) => Pipeline.Builder<typeof Amount.Type, never, never, string> = (b) => b) => {
  const path = join(dir, "in.csv")
  writeFileSync(path, csv)
  return steps(Pipeline.make({ name: "amounts", source: Source.csv({ path, schema: Amount }) })).pipe(
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines<typeof Amount.Type>({ path: join(dir, "out.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )
}

describe("values with no canonical JSON form (RFC 8785) are quarantined, the run goes on", () => {
  it.live("a CSV cell NaN decoded by NumberFromString: that row is quarantined with the field and reason; rows before and after are recorded", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const summary = yield* Orchestrator.run(csvPipeline(dir, "id,amount\n1,10\n2,NaN\n3,Infinity\n4,40\n")).pipe(Effect.provide(layers(db)))
      expect(summary).toMatchObject({ rowsRead: 4, quarantined: 2, rowsPerSink: { out: 2 } })
      const quarantined = lines(join(dir, "quarantine.jsonl")) as Array<QuarantineLine>
      expect(quarantined.map((q) => [q.rowIndex, q.node])).toEqual([[1, "source"], [2, "source"]])
      expect(quarantined[0]!.reason).toBe("decoded $.amount: NaN has no JSON form (RFC 8785 §3.2.2.3)")
      expect(quarantined[1]!.reason).toBe("decoded $.amount: Infinity has no JSON form (RFC 8785 §3.2.2.3)")
      expect(lines(join(dir, "out.jsonl")).map((r) => r.id)).toEqual([1, 4])
      const rows = yield* querySqlite<{ row_index: number }>(db, "SELECT row_index FROM rows ORDER BY row_index")
      expect(rows.map((r) => r.row_index)).toEqual([0, 1, 2, 3])
      const [run] = yield* querySqlite<{ status: string }>(db, "SELECT status FROM runs")
      expect(run!.status).toBe("completed")
    }))

  it.live("a step whose output holds NaN, -Infinity, a bigint or a lone surrogate: each row is quarantined at that step with the path", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const outputs: Record<number, unknown> = { 1: { x: Number.NaN }, 2: { nested: [1, Number.NEGATIVE_INFINITY] }, 3: { n: 12n }, 4: { s: "a\ud800b" } }
      const pipeline = csvPipeline(dir, "id,amount\n1,1\n2,2\n3,3\n4,4\n5,5\n", (b) =>
        b.pipe(Pipeline.transform(Pipeline.makeTransform("weird", (r: typeof Amount.Type) => Effect.succeed((outputs[r.id] ?? r) as typeof Amount.Type)))))
      const summary = yield* Orchestrator.run(pipeline).pipe(Effect.provide(layers(join(dir, "l.db"))))
      expect(summary).toMatchObject({ rowsRead: 5, quarantined: 4, rowsPerSink: { out: 1 } })
      const reasons = (lines(join(dir, "quarantine.jsonl")) as Array<QuarantineLine>).map((q) => [q.node, q.reason])
      expect(reasons).toEqual([
        ["weird", "output $.x: NaN has no JSON form (RFC 8785 §3.2.2.3)"],
        ["weird", "output $.nested[1]: -Infinity has no JSON form (RFC 8785 §3.2.2.3)"],
        ["weird", "output $.n: the bigint 12n has no JSON form"],
        ["weird", "output $.s: a string with a lone surrogate is not well-formed Unicode (I-JSON, RFC 7493 §2.1, which RFC 8785 requires)"]
      ])
    }))

  it.live("a source record with no canonical form is stored as a stand-in that says why, and quarantined", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const pipeline = Pipeline.make({
        name: "memory",
        source: Source.fromIterable({ records: [{ v: 1 }, { v: Number.NaN }, { v: 3 }], schema: Schema.Struct({ v: Schema.Number }) })
      }).pipe(Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) }))
      yield* Orchestrator.run(pipeline).pipe(Effect.provide(layers(db)))
      const [stored] = yield* querySqlite<{ source_data_json: string }>(db, "SELECT source_data_json FROM rows WHERE row_index = 1")
      expect(JSON.parse(stored!.source_data_json)).toEqual({ $nonCanonical: "$.v: NaN has no JSON form (RFC 8785 §3.2.2.3)", json: '{"v":null}' })
      expect(lines(join(dir, "q.jsonl"))).toMatchObject([{ rowIndex: 1, node: "source", reason: "$.v: NaN has no JSON form (RFC 8785 §3.2.2.3)" }])
    }))
})

describe("CSV source", () => {
  it.live("keeps a rejected line whole (not cut at the error) in the quarantine sink and the Landscape", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      yield* Orchestrator.run(csvPipeline(dir, 'id,amount\n1,10\n2,be"ta and much more\n3,30\n')).pipe(Effect.provide(layers(db)))
      const [q] = lines(join(dir, "quarantine.jsonl")) as Array<QuarantineLine>
      expect(q).toMatchObject({ rowIndex: 1, node: "source", data: { line: '2,be"ta and much more' } })
      expect(q!.reason).toMatch(/^line 3: Invalid Opening Quote/)
      const [row] = yield* querySqlite<{ source_data_json: string }>(db, "SELECT source_data_json FROM rows WHERE row_index = 1")
      expect(JSON.parse(row!.source_data_json)).toEqual({ line: '2,be"ta and much more' })
      expect(lines(join(dir, "out.jsonl")).map((r) => r.id)).toEqual([1, 3])
    }))

  it.live("a header that names a column twice fails the run with SourceError naming the column", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const exit = yield* Effect.exit(Orchestrator.run(csvPipeline(dir, "id,amount,amount\n1,2,3\n")).pipe(Effect.provide(layers(db))))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      expect(error).toMatchObject({ _tag: "SourceError" })
      expect(error?.message).toContain('names the column "amount" twice')
      const [run] = yield* querySqlite<{ status: string; error: string }>(db, "SELECT status, error FROM runs")
      expect(run).toMatchObject({ status: "failed" })
      expect(run!.error).toContain('"amount" twice')
    }))

  it.live("a decode failure is quarantined with one short line (field path and message); every issue is kept in error_json", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      yield* Orchestrator.run(csvPipeline(dir, "id,amount\nx,abc\n")).pipe(Effect.provide(layers(db)))
      const [q] = lines(join(dir, "quarantine.jsonl")) as Array<QuarantineLine>
      expect(q!.reason).toBe('id: Unable to decode "x" into a number (+1 more)')
      const [state] = yield* querySqlite<{ error_json: string }>(db, "SELECT error_json FROM node_states WHERE status = 'failed'")
      expect(JSON.parse(state!.error_json)).toEqual({
        kind: "decode",
        issues: [
          { path: ["id"], message: 'Unable to decode "x" into a number', tag: "Transformation" },
          { path: ["amount"], message: 'Unable to decode "abc" into a number', tag: "Transformation" }
        ]
      })
    }))
})

describe("a source that cannot be read", () => {
  it.live("fails the run with SourceError; runs.error keeps the system error (ENOENT)", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const pipeline = Pipeline.make({ name: "missing", source: Source.json({ path: join(dir, "nope.json"), schema: Amount }) }).pipe(
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const exit = yield* Effect.exit(Orchestrator.run(pipeline).pipe(Effect.provide(layers(db))))
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause).pipe(Option.map((e) => e._tag), Option.getOrUndefined)).toBe("SourceError")
      const [run] = yield* querySqlite<{ status: string; error: string }>(db, "SELECT status, error FROM runs")
      expect(run!.status).toBe("failed")
      expect(run!.error).toMatch(/^cannot read .*nope\.json: ENOENT: no such file or directory/)
    }))
})

describe("hashes", () => {
  it.live("a decoded row that mirrors its record has the record's hash as its first step's input hash; one that differs has its own", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const Same = Schema.Struct({ n: Schema.Number })
      const Converted = Schema.Struct({ n: Schema.NumberFromString })
      const run = <I>(name: string, schema: Schema.Schema<{ readonly n: number }, I>, records: ReadonlyArray<unknown>) =>
        Orchestrator.run(Pipeline.make({ name, source: Source.fromIterable({ records, schema }) }).pipe(
          Pipeline.transform(Pipeline.makeTransform("keep", (r: { readonly n: number }) => Effect.succeed(r))),
          Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, `${name}.jsonl`) }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
        )).pipe(Effect.provide(layers(db)))
      yield* run("same", Same, [{ n: 1 }])
      yield* run("converted", Converted, [{ n: "1" }])
      const rows = yield* querySqlite<{ pipeline: string; source_data_hash: string; input_hash: string }>(db,
        `SELECT runs.pipeline, rows.source_data_hash, node_states.input_hash FROM rows JOIN runs USING (run_id)
         JOIN tokens USING (row_id) JOIN node_states USING (token_id) ORDER BY runs.pipeline`)
      const sha = (text: string) => createHash("sha256").update(text).digest("hex")
      expect(rows).toEqual([
        { pipeline: "converted", source_data_hash: sha('{"n":"1"}'), input_hash: sha('{"n":1}') },
        { pipeline: "same", source_data_hash: sha('{"n":1}'), input_hash: sha('{"n":1}') }
      ])
    }))
})
