/**
 * Aggregations through the real Orchestrator and each Landscape backend (issue 12): rows are
 * buffered in source order into batches (`batches`, `batch_members`, in the hash chain), flushed by
 * the first trigger to fire (count, condition, a time-out on the engine's Clock even when no row
 * comes, the end of the source) with its reason recorded; the flush is one node state and one
 * `TransformCompleted` whose input hash is the hash of the members' hashes; members end
 * `consumed_in_batch`, outputs are new tokens with the members as parents (one per batch, or one
 * per member passed through); a failed flush quarantines its members; open batches survive a resume.
 */
import { describe, expect, it } from "@effect/vitest"
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Schedule, Schema, Stream, TestClock, TestServices } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { AuditedHttpClient, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { canonicalJson, sha256 } from "../src/internal/hashing.js"
import { querySqlite, tempDir } from "./helpers.js"
import { eachBackend, type Store } from "./support/backends.js"
import { testServer } from "./support/server-helpers.js"

const Reading = Schema.Struct({ id: Schema.Number, station: Schema.String, value: Schema.Number })
type Reading = typeof Reading.Type
interface Total {
  readonly ids: ReadonlyArray<number>
  readonly total: number
}

/** Ten readings; index 5 does not decode (quarantined at the source, never buffered). */
const readings = Array.from({ length: 10 }, (_, id) => (id === 5 ? { id, station: "B", value: "n/a" } : { id, station: id % 2 === 0 ? "A" : "B", value: id }))

/** Where the `hold` step stops every row from `at` on (until the run is interrupted). */
interface Hold {
  at: number | undefined
}

const summing = (dir: string, hold: Hold = { at: undefined }) =>
  Pipeline.make({ name: "sums", source: Source.fromIterable({ records: readings, schema: Reading, name: "readings" }) }).pipe(
    // Async for odd ids: the batch still fills in source order.
    Pipeline.transform(Pipeline.makeTransform("scale", (r: Reading) => {
      if (hold.at !== undefined && r.id >= hold.at) return Effect.never
      const scaled = { ...r, value: r.value * 10 }
      return r.id % 2 === 1 ? Effect.as(Effect.yieldNow(), scaled) : Effect.succeed(scaled)
    })),
    Pipeline.aggregate(Pipeline.makeAggregate("sum", { trigger: { count: 4 } }, (batch: ReadonlyArray<Reading>) =>
      Effect.succeed<Total>({ ids: batch.map((r) => r.id), total: batch.reduce((t, r) => t + r.value, 0) }))),
    Pipeline.toSinks({ sinks: { totals: Sink.jsonLines<Total>({ path: join(dir, "totals.jsonl") }) }, default: "totals", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)
const hashOf = (value: unknown) => sha256(canonicalJson(value))
const layersOf = (store: Store) => Layer.merge(TestExporter.layer(), store.layer())

eachBackend((backend) => {
  describe("Pipeline.aggregate", () => {
    it.live("batches rows in source order by count and end of source; members consumed, output tokens with the members as parents; verify checks it", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const dir = tempDir()
        const summary = yield* Effect.gen(function* () {
          const summary = yield* Orchestrator.run(summing(dir), { batchSize: 3 })
          const exporter = yield* TestExporter.TestExporter
          return { summary, transforms: yield* exporter.eventsOf("TransformCompleted"), completed: yield* exporter.eventsOf("TokenCompleted") }
        }).pipe(Effect.provide(layersOf(store)))
        const { runId } = summary.summary
        const [sum] = yield* store.exec<{ node_id: string; kind: string }>(`SELECT node_id, kind FROM nodes WHERE run_id = '${runId}' AND name = 'sum'`)
        expect(sum!.kind).toBe("aggregation")
        const flushes = summary.transforms.filter((e) => e.nodeId === sum!.node_id)
        expect(summary.summary).toMatchObject({ status: "completed", rowsRead: 10, rowsPerSink: { totals: 3 }, quarantined: 1 })
        expect(lines(join(dir, "totals.jsonl"))).toEqual([
          { ids: [0, 1, 2, 3], total: 60 },
          { ids: [4, 6, 7, 8], total: 250 },
          { ids: [9], total: 90 }
        ])
        expect(lines(join(dir, "q.jsonl")).map((q) => [q.rowIndex, q.node])).toEqual([[5, "readings"]])

        const batches = yield* store.exec<{ batch_id: string; status: string; trigger_reason: string; members: number; state_status: string; token_row: number }>(`
          SELECT b.batch_id, b.status, b.trigger_reason, (SELECT count(*) FROM batch_members m WHERE m.batch_id = b.batch_id) AS members,
                 s.status AS state_status, r.row_index AS token_row
          FROM batches b JOIN node_states s ON s.state_id = b.state_id JOIN tokens t ON t.token_id = s.token_id JOIN rows r ON r.row_id = t.row_id
          WHERE b.run_id = '${runId}' ORDER BY b.created_at, r.row_index`)
        // The flush's node state is on the batch's first member.
        expect(batches.map((b) => [b.status, b.trigger_reason, Number(b.members), b.state_status, Number(b.token_row)])).toEqual([
          ["flushed", "count", 4, "completed", 0],
          ["flushed", "count", 4, "completed", 4],
          ["flushed", "end_of_source", 1, "completed", 9]
        ])
        const tokens = yield* store.exec<{ row_index: number; outcome: string; parents: number }>(`
          SELECT r.row_index, t.outcome, (SELECT count(*) FROM token_parents p WHERE p.token_id = t.token_id) AS parents
          FROM tokens t JOIN rows r ON r.row_id = t.row_id WHERE t.run_id = '${runId}' ORDER BY r.row_index, t.created_at, parents`)
        expect(tokens.map((t) => [Number(t.row_index), t.outcome, Number(t.parents)])).toEqual([
          [0, "consumed_in_batch", 0], [0, "routed", 4], [1, "consumed_in_batch", 0], [2, "consumed_in_batch", 0], [3, "consumed_in_batch", 0],
          [4, "consumed_in_batch", 0], [4, "routed", 4], [5, "quarantined", 0], [6, "consumed_in_batch", 0], [7, "consumed_in_batch", 0],
          [8, "consumed_in_batch", 0], [9, "consumed_in_batch", 0], [9, "routed", 1]
        ])
        // One TransformCompleted per flush: its input is the members' hashes, its output the total's.
        const scaled = (ids: ReadonlyArray<number>) => ids.map((id) => hashOf({ id, station: id % 2 === 0 ? "A" : "B", value: id * 10 }))
        expect(flushes.map((e) => [e.inputHash, e.status === "completed" ? e.outputHash : e.error])).toEqual([
          [hashOf(scaled([0, 1, 2, 3])), hashOf({ ids: [0, 1, 2, 3], total: 60 })],
          [hashOf(scaled([4, 6, 7, 8])), hashOf({ ids: [4, 6, 7, 8], total: 250 })],
          [hashOf(scaled([9])), hashOf({ ids: [9], total: 90 })]
        ])
        expect(summary.completed.map((e) => e.outcome).sort()).toEqual(["quarantined", "routed", "routed", "routed"])

        const report = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        expect(report).toMatchObject({ ok: true, problems: [] })
        // Membership is in the chain, and a member's outcome must follow its batch.
        yield* store.exec(`UPDATE batches SET status = 'open' WHERE batch_id = '${batches[2]!.batch_id}'`)
        const reopened = yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))
        expect(reopened.problems.map((p) => p.check).sort()).toEqual(["chain", "chain", "outcome", "outcome"])
        expect(reopened.problems.filter((p) => p.check === "outcome").map((p) => p.message)).toEqual(expect.arrayContaining([
          expect.stringMatching(/ended consumed_in_batch and is a member of open batch/),
          `the run completed with batch ${batches[2]!.batch_id} still open: the end of the source flushes every batch`
        ]))
      }))

    it.live("an interrupted run keeps its open batch in the checkpoint; the resume fills and flushes it like a run never interrupted", () =>
      Effect.gen(function* () {
        const store = yield* backend.fresh()
        const straight = tempDir()
        yield* Orchestrator.run(summing(straight), { batchSize: 2 }).pipe(Effect.provide(layersOf(store)))
        const dir = tempDir()
        const hold: Hold = { at: 6 }
        const pipeline = summing(dir, hold)
        // Rows 0–5 commit (4 and 5 wait in an open batch; 5 is quarantined), then the run is interrupted.
        const reached = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(Orchestrator.run(pipeline, { batchSize: 2, onProgress: (p) => (p.rowsDone >= 6 ? Deferred.succeed(reached, undefined) : Effect.void) }).pipe(
          Effect.provide(layersOf(store))
        ))
        yield* Deferred.await(reached)
        yield* Fiber.interrupt(fiber)
        const [run] = yield* store.exec<{ run_id: string }>("SELECT run_id FROM runs WHERE status = 'interrupted'")
        const runId = run!.run_id
        const open = yield* store.exec<{ members: number }>(`
          SELECT count(*) AS members FROM batch_members m JOIN batches b ON b.batch_id = m.batch_id WHERE b.run_id = '${runId}' AND b.status = 'open'`)
        expect(Number(open[0]!.members)).toBe(1)
        hold.at = undefined
        const summary = yield* Orchestrator.resume(pipeline, runId, { batchSize: 2 }).pipe(Effect.provide(layersOf(store)))
        expect(summary).toMatchObject({ status: "completed", attempt: 2, rowsRead: 10, rowsPerSink: { totals: 3 }, quarantined: 1 })
        expect(readFileSync(join(dir, "totals.jsonl"), "utf8")).toBe(readFileSync(join(straight, "totals.jsonl"), "utf8"))
        const members = yield* store.exec<{ n: number; tokens: number }>(`
          SELECT count(*) AS n, count(DISTINCT token_id) AS tokens FROM batch_members WHERE run_id = '${runId}'`)
        expect([Number(members[0]!.n), Number(members[0]!.tokens)]).toEqual([9, 9])
        expect(yield* Landscape.verify(runId).pipe(Effect.provide(store.layer()))).toMatchObject({ ok: true, problems: [] })
      }))
  })
})

describe("Pipeline.makeBatched", () => {
  const Word = Schema.Struct({ id: Schema.Number, word: Schema.String })
  type Word = typeof Word.Type
  type Labelled = Word & { readonly label: "short" | "long" }
  const words = ["a", "bb", "ccc", "dddd", "eeeee", "boom", "g", "hh"].map((word, id) => ({ id, word }))
  /** The first attempt at each batch fails with a transient error; the batch with "boom" fails for good. */
  const attempts = new Map<number, number>()
  const classify = (batch: ReadonlyArray<Word>) =>
    Effect.suspend(() => {
      const first = batch[0]!.id
      attempts.set(first, (attempts.get(first) ?? 0) + 1)
      if (attempts.get(first) === 1) return Effect.fail(new Cause503())
      if (batch.some((w) => w.word === "boom")) return Effect.fail(new Error("the classifier refused the batch"))
      return Effect.succeed(batch.map((w): Labelled => ({ ...w, label: w.word.length >= 3 ? "long" : "short" })))
    })
  class Cause503 extends Schema.TaggedError<Cause503>()("ServiceUnavailable", {}) {}

  it.live("passes members through as child tokens (routed by a gate after it); a batch that fails after its retries quarantines its members", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    const pipeline = Pipeline.make({ name: "labels", source: Source.fromIterable({ records: words, schema: Word }) }).pipe(
      Pipeline.aggregate(Pipeline.makeBatched("classify", {
        trigger: { count: 3 },
        retry: Pipeline.retry({ schedule: Schedule.recurs(2), retryable: (e) => e instanceof Cause503 })
      }, classify)),
      Pipeline.gate(Pipeline.makeGate("size", ["long"], (w: Labelled) => Effect.succeed(w.label === "long" ? "long" as const : Pipeline.Continue))),
      Pipeline.toSinks({
        sinks: { short: Sink.jsonLines<Labelled>({ path: join(dir, "short.jsonl") }), long: Sink.jsonLines<Labelled>({ path: join(dir, "long.jsonl") }) },
        default: "short",
        quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
      })
    )
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(pipeline)
      expect(summary).toMatchObject({ rowsRead: 8, rowsPerSink: { short: 4, long: 1 }, quarantined: 3 })
      expect(lines(join(dir, "short.jsonl")).map((w) => w.word)).toEqual(["a", "bb", "g", "hh"])
      expect(lines(join(dir, "long.jsonl")).map((w) => w.word)).toEqual(["ccc"])
      expect(lines(join(dir, "q.jsonl")).map((q) => [q.rowIndex, q.node, q.reason])).toEqual([3, 4, 5].map((i) => [i, "classify", "Error: the classifier refused the batch"]))
      const states = yield* querySqlite<{ attempt: number; status: string; trigger_reason: string; batch_status: string }>(db, `
        SELECT s.attempt, s.status, b.trigger_reason, b.status AS batch_status FROM node_states s
        JOIN batch_members m ON m.token_id = s.token_id AND m.ordinal = 0 JOIN batches b ON b.batch_id = m.batch_id
        JOIN nodes n ON n.node_id = s.node_id WHERE n.name = 'classify' ORDER BY b.created_at, s.started_at, s.attempt`)
      expect(states.map((s) => [s.trigger_reason, s.batch_status, s.attempt, s.status])).toEqual([
        ["count", "flushed", 1, "failed"], ["count", "flushed", 2, "completed"],
        ["count", "failed", 1, "failed"], ["count", "failed", 2, "failed"],
        ["end_of_source", "flushed", 1, "failed"], ["end_of_source", "flushed", 2, "completed"]
      ])
      // Each member passed through has a child token of its own row.
      const children = yield* querySqlite<{ same_row: number }>(db, `
        SELECT CASE WHEN c.row_id = p.row_id THEN 1 ELSE 0 END AS same_row FROM token_parents l
        JOIN tokens c ON c.token_id = l.token_id JOIN tokens p ON p.token_id = l.parent_token_id`)
      expect(children.map((c) => c.same_row)).toEqual([1, 1, 1, 1, 1])
      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
  })
})

describe("a batched external call", () => {
  const Word = Schema.Struct({ id: Schema.Number, word: Schema.String })
  type Word = typeof Word.Type
  type Echoed = Word & { readonly echoed: string }

  it.scopedLive("makes one audited HTTP request per batch; every member is attributable to it (explain shows the batch's flush and its call; trace follows the output)", () =>
    Effect.gen(function* () {
      const { baseUrl, seen } = yield* testServer()
      const http = yield* Effect.flatMap(Layer.build(NodeHttpClient.layerUndici), (ctx) => Effect.provide(AuditedHttpClient.make(), ctx))
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const words = ["ant", "bee", "cat", "dog", "eel"].map((word, id) => ({ id, word }))
      const lookup = (batch: ReadonlyArray<Word>) =>
        http.execute(HttpClientRequest.post(`${baseUrl}/echo`).pipe(HttpClientRequest.bodyUnsafeJson({ words: batch.map((w) => w.word) }))).pipe(
          Effect.flatMap((response) => response.json),
          Effect.map((body) => (body as { readonly words: ReadonlyArray<string> }).words.map((echoed, k): Echoed => ({ ...batch[k]!, echoed: echoed.toUpperCase() })))
        )
      const pipeline = Pipeline.make({ name: "lookup", source: Source.fromIterable({ records: words, schema: Word }) }).pipe(
        Pipeline.aggregate(Pipeline.makeBatched("lookup", { trigger: { count: 2 } }, lookup)),
        Pipeline.aggregate(Pipeline.makeAggregate("all", { trigger: {} }, (batch: ReadonlyArray<Echoed>) => Effect.succeed({ words: batch.map((w) => w.echoed) }))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ words: ReadonlyArray<string> }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      yield* Effect.gen(function* () {
        const summary = yield* Orchestrator.run(pipeline)
        expect(lines(join(dir, "out.jsonl"))).toEqual([{ words: ["ANT", "BEE", "CAT", "DOG", "EEL"] }])
        expect(seen.map((r) => JSON.parse(r.body) as unknown)).toEqual([{ words: ["ant", "bee"] }, { words: ["cat", "dog"] }, { words: ["eel"] }])
        const calls = yield* querySqlite<{ call_id: string; batch_id: string }>(db, `
          SELECT c.call_id, b.batch_id FROM calls c JOIN batches b ON b.state_id = c.state_id ORDER BY c.created_at`)
        expect(calls).toHaveLength(3)
        for (const rowIndex of [0, 1, 2, 3, 4]) {
          const explained = Option.getOrThrow(yield* Landscape.explain({ runId: summary.runId, rowIndex }))
          expect(explained.outcome).toMatchObject({ outcome: "consumed_in_batch" })
          expect(explained.batch).toMatchObject({ node: "lookup", status: "flushed", trigger: rowIndex === 4 ? "end_of_source" : "count", ordinal: rowIndex % 2 })
          expect(explained.batch?.flush?.calls.map((c) => c.callId)).toEqual([calls[Math.floor(rowIndex / 2)]!.call_id])
          // Forward: the row's passthrough child, consumed by "all", whose output (the first row's) reached the sink.
          const traced = Option.getOrThrow(yield* Landscape.trace({ runId: summary.runId, rowId: explained.row.rowId }))
          expect(traced.tokens.map((t) => t.outcome.outcome)).toEqual(["consumed_in_batch", "consumed_in_batch", "routed"])
        }
        expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
      }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
    }))
})

describe("a batch whose flush had begun when the run stopped", () => {
  const Word = Schema.Struct({ id: Schema.Number, word: Schema.String })
  type Word = typeof Word.Type

  it.scopedLive("is closed failed by the resume with its members, not flushed again: its call is not made twice", () =>
    Effect.gen(function* () {
      const { baseUrl, seen } = yield* testServer()
      const http = yield* Effect.flatMap(Layer.build(NodeHttpClient.layerUndici), (ctx) => Effect.provide(AuditedHttpClient.make(), ctx))
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const words = ["ant", "bee", "cat"].map((word, id) => ({ id, word }))
      const called = yield* Deferred.make<void>()
      // The first batch's call is made and recorded, then the flush hangs until the run is interrupted.
      const hang = { on: true }
      const lookup = (batch: ReadonlyArray<Word>) =>
        http.execute(HttpClientRequest.get(`${baseUrl}/ok`)).pipe(
          Effect.zipRight(hang.on && batch[0]!.id === 0 ? Effect.zipRight(Deferred.succeed(called, undefined), Effect.never) : Effect.void),
          Effect.as(batch.map((w) => ({ ...w, looked: true })))
        )
      const pipeline = Pipeline.make({ name: "begun", source: Source.fromIterable({ records: words, schema: Word }) }).pipe(
        Pipeline.aggregate(Pipeline.makeBatched("lookup", { trigger: { count: 2 } }, lookup)),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Word & { looked: boolean }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const layers = Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))
      const fiber = yield* Effect.fork(Effect.provide(Orchestrator.run(pipeline), layers))
      yield* Deferred.await(called)
      yield* Fiber.interrupt(fiber)
      const runId = yield* runIdOf(db)
      hang.on = false
      const summary = yield* Effect.provide(Orchestrator.resume(pipeline, runId), layers)
      expect(summary).toMatchObject({ status: "completed", attempt: 2, rowsRead: 3, rowsPerSink: { out: 1 } })
      // One call for the begun batch (not redone), one for the last row's batch.
      expect(seen).toHaveLength(2)
      expect(lines(join(dir, "out.jsonl")).map((w) => w.word)).toEqual(["cat"])
      const batches = yield* querySqlite<{ status: string; trigger_reason: string | null; members: string }>(db, `
        SELECT b.status, b.trigger_reason, group_concat(t.outcome) AS members FROM batches b JOIN batch_members m ON m.batch_id = b.batch_id
        JOIN tokens t ON t.token_id = m.token_id GROUP BY b.batch_id ORDER BY b.created_at`)
      expect(batches).toEqual([{ status: "failed", trigger_reason: null, members: "failed,failed" }, { status: "flushed", trigger_reason: "end_of_source", members: "consumed_in_batch" }])
      const [run] = yield* querySqlite<{ rows_read: number }>(db, "SELECT rows_read FROM runs")
      expect(run!.rows_read).toBe(3)
      expect(yield* Effect.provide(Landscape.verify(runId), layers)).toMatchObject({ ok: true, problems: [] })
    }))
})

describe("Trigger.timeout", () => {
  it.effect("fires on the engine's Clock while no row arrives (the source is still open); a condition fires at once", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    // Three readings, then a source that stays open and never gives another.
    const source = Source.make({
      name: "station",
      records: Stream.concat(Stream.fromIterable(readings.slice(0, 3).map((raw) => ({ raw }))), Stream.never),
      schema: Reading
    })
    const pipeline = Pipeline.make({ name: "quiet", source }).pipe(
      Pipeline.aggregate(Pipeline.makeAggregate("hourly", { trigger: { count: 100, timeout: "5 seconds" } }, (batch: ReadonlyArray<Reading>) =>
        Effect.succeed<{ readonly ids: ReadonlyArray<number> }>({ ids: batch.map((r) => r.id) }))),
      Pipeline.aggregate(Pipeline.makeAggregate("alert", { trigger: { count: 100, condition: (b) => b.length >= 1 } }, (batch: ReadonlyArray<{ ids: ReadonlyArray<number> }>) =>
        Effect.succeed({ alerts: batch.length }))),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ alerts: number }>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    )
    /** Waits (in real time) until `query` returns a row. */
    const until = (query: string) =>
      Effect.sleep("10 millis").pipe(
        Effect.zipRight(querySqlite<{ n: number }>(db, query)),
        Effect.repeat({ until: (rows) => Number(rows[0]?.n ?? 0) > 0 })
      )
    // The run gets the test's `TestClock`; the layers live on the real one (their finalizers wait on it).
    const body = (clock: TestClock.TestClock) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(Effect.withClock(Orchestrator.run(pipeline, { batchSize: 1 }), clock))
        yield* until("SELECT count(*) AS n FROM batch_members HAVING count(*) >= 3")
        yield* clock.adjust(Duration.seconds(4))
        // 4 s: not yet.
        yield* Effect.sleep("50 millis")
        expect(yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM batches WHERE status <> 'open'")).toEqual([{ n: 0 }])
        yield* clock.adjust(Duration.seconds(1))
        yield* until("SELECT count(*) AS n FROM batches WHERE status = 'flushed' HAVING count(*) >= 2")
        const batches = yield* querySqlite<{ name: string; trigger_reason: string; members: number }>(db, `
          SELECT n.name, b.trigger_reason, (SELECT count(*) FROM batch_members m WHERE m.batch_id = b.batch_id) AS members
          FROM batches b JOIN nodes n ON n.node_id = b.node_id ORDER BY b.created_at, n.position`)
        expect(batches).toEqual([{ name: "hourly", trigger_reason: "timeout", members: 3 }, { name: "alert", trigger_reason: "condition", members: 1 }])
        expect(lines(join(dir, `out.partial-${yield* runIdOf(db)}.jsonl`))).toEqual([{ alerts: 1 }])
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
    return Effect.flatMap(TestClock.testClock(), (clock) => TestServices.provideLive(body(clock)))
  })
})

const runIdOf = (db: string) => Effect.map(querySqlite<{ run_id: string }>(db, "SELECT run_id FROM runs"), (r) => r[0]!.run_id)
