/**
 * The engine through its production path: the real Orchestrator, a real SQLite Landscape file,
 * real sink files.
 */
import { describe, expect, it } from "@effect/vitest"
import canonicalize from "canonicalize"
import { Effect, Layer, Metric, Schema } from "effect"
import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, PipelineMetric, Sink, Source, Telemetry, TestExporter } from "../src/index.js"
import { ordersPipeline, querySqlite, tempDir, threeOrders } from "./helpers.js"

const layers = (db: string, options: Parameters<typeof TestExporter.layer>[0] = {}) =>
  Layer.merge(TestExporter.layer(options), LandscapeSqlite.layer({ filename: db }))

describe("Orchestrator.run", () => {
  it.live("reports progress after each committed batch, counting the rows of that batch", () =>
    Effect.gen(function* () {
      const reports: Array<[number, number]> = []
      const records = [...threeOrders, { id: "4", customer: "eve", amount: "lots" }, { id: "5", customer: "bob", amount: "7" }]
      yield* Orchestrator.run(ordersPipeline(tempDir(), records), {
        batchSize: 2,
        onProgress: (p) => Effect.sync(() => void reports.push([p.rowsDone, p.quarantined]))
      })
      expect(reports).toEqual([[2, 0], [4, 1], [5, 1]])
    }).pipe(Effect.provide(layers(join(tempDir(), "l.db")))))

  it.live("emits the complete, ordered event sequence of a 3-row pipeline, each event correlated", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const summary = yield* Orchestrator.run(ordersPipeline(dir), { concurrency: 1 })
      const exporter = yield* TestExporter.TestExporter
      expect(yield* exporter.tags).toEqual([
        "RunStarted",
        "PhaseChanged",
        "PhaseChanged",
        "RowCreated", "TransformCompleted", "GateEvaluated", "TokenCompleted",
        "RowCreated", "TransformCompleted", "GateEvaluated", "TokenCompleted",
        "RowCreated", "TransformCompleted", "GateEvaluated", "TokenCompleted",
        "PhaseChanged",
        "RunFinished"
      ])
      const events = yield* exporter.events
      expect(new Set(events.map((e) => e.runId))).toEqual(new Set([summary.runId]))
      // One trace for the run; every event carries W3C ids.
      expect(new Set(events.map((e) => e.traceId)).size).toBe(1)
      for (const e of events) {
        expect(e.traceId).toMatch(/^[0-9a-f]{32}$/)
        expect(e.spanId).toMatch(/^[0-9a-f]{16}$/)
      }
      expect((yield* exporter.eventsOf("PhaseChanged")).map((e) => e.phase)).toEqual(["registering", "processing", "finalizing"])
      // Transform events carry the state id and the row's ids, and stand in their transform's own span
      // (every row is traced here: `rowSpanRate: 1`).
      const rows = yield* exporter.eventsOf("RowCreated")
      const transforms = yield* exporter.eventsOf("TransformCompleted")
      transforms.forEach((t, i) => {
        expect(t.rowId).toBe(rows[i]!.rowId)
        expect(t.tokenId).toBe(rows[i]!.tokenId)
        expect(t.stateId).toMatch(/^[0-9a-f-]{36}$/)
        expect(t.spanId).not.toBe(rows[i]!.spanId)
        expect(t).not.toHaveProperty("operationId")
      })
      yield* exporter.assertEmitted("GateEvaluated", { rowId: rows[1]!.rowId, destination: "large" })
      yield* exporter.assertEmitted("TokenCompleted", { rowId: rows[0]!.rowId, sink: "small", outcome: "routed" })
      yield* exporter.assertEmitted("RunFinished", { status: "completed", rowsRead: 3, rowsQuarantined: 0 })
      expect(summary).toMatchObject({ status: "completed", rowsRead: 3, rowsPerSink: { small: 2, large: 1 }, quarantined: 0 })
    }).pipe(Effect.provide(layers(join(tempDir(), "l.db"), { rowSpanRate: 1 }))))

  it.live("a row the telemetry does not sample for spans carries the run span's ids (one trace, no span per row)", () =>
    Effect.gen(function* () {
      yield* Orchestrator.run(ordersPipeline(tempDir()), { concurrency: 1 })
      const events = yield* (yield* TestExporter.TestExporter).events
      const run = events.find((e) => e._tag === "RunStarted")!
      for (const e of events.filter((e) => e._tag !== "ExternalCallCompleted")) {
        expect(e.traceId).toBe(run.traceId)
        expect(e.spanId).toBe(run.spanId)
      }
    }).pipe(Effect.provide(layers(join(tempDir(), "l.db"), { rowSpanRate: 0 }))))

  it.live("records run, nodes, rows, tokens, node states and routing in the Landscape, with RFC 8785 SHA-256 hashes", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const summary = yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(layers(db)))
      const [run] = yield* querySqlite<{ status: string; rows_read: number; telemetry_enabled: number }>(db, "SELECT * FROM runs")
      expect(run).toMatchObject({ status: "completed", rows_read: 3, telemetry_enabled: 1 })
      const nodes = yield* querySqlite<{ name: string; kind: string }>(db, "SELECT name, kind FROM nodes ORDER BY position")
      expect(nodes.map((n) => `${n.kind}:${n.name}`)).toEqual([
        "source:orders", "transform:normalize", "gate:size", "sink:small", "sink:large", "sink:quarantine"
      ])
      const rows = yield* querySqlite<{ row_index: number; source_data_json: string; source_data_hash: string }>(
        db, "SELECT row_index, source_data_json, source_data_hash FROM rows ORDER BY row_index")
      expect(rows.map((r) => r.row_index)).toEqual([0, 1, 2])
      const expected = createHash("sha256").update(canonicalize({ id: "2", customer: "grace", amount: "250" })!).digest("hex")
      expect(rows[1]!.source_data_hash).toBe(expected)
      const states = yield* querySqlite<{ kind: string; status: string; n: number }>(db,
        "SELECT nodes.kind, node_states.status, count(*) AS n FROM node_states JOIN nodes USING (node_id) GROUP BY 1, 2 ORDER BY 1")
      expect(states).toEqual([{ kind: "gate", status: "completed", n: 3 }, { kind: "transform", status: "completed", n: 3 }])
      const tokens = yield* querySqlite<{ outcome: string; sink: string }>(db,
        "SELECT tokens.outcome, nodes.name AS sink FROM tokens JOIN nodes ON nodes.node_id = tokens.sink_node_id JOIN rows USING (row_id) ORDER BY rows.row_index")
      expect(tokens).toEqual([{ outcome: "routed", sink: "small" }, { outcome: "routed", sink: "large" }, { outcome: "routed", sink: "small" }])
      const routing = yield* querySqlite<{ destination: string }>(db, "SELECT destination FROM routing_events")
      expect(routing.map((r) => r.destination).sort()).toEqual(["continue", "continue", "large"])
      const operations = yield* querySqlite<{ kind: string; status: string }>(db, "SELECT kind, status FROM operations ORDER BY kind")
      expect(operations.every((o) => o.status === "completed")).toBe(true)
      expect(operations.length).toBe(4)
      // The transform's output hash is the hash of what the sink received.
      const [out] = yield* querySqlite<{ output_hash: string }>(db,
        "SELECT output_hash FROM node_states JOIN nodes USING (node_id) JOIN tokens USING (token_id) JOIN rows USING (row_id) WHERE nodes.name = 'normalize' AND rows.row_index = 1")
      const written = JSON.parse(readFileSync(join(dir, "large.jsonl"), "utf8").trim())
      expect(out!.output_hash).toBe(createHash("sha256").update(canonicalize(written)!).digest("hex"))
      expect(summary.rowsPerSink).toEqual({ small: 2, large: 1 })
    }))

  it.live("keeps two runs in the same Landscape", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const a = yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(layers(db)))
      const b = yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(layers(db)))
      const runs = yield* Landscape.listRuns().pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))
      expect(new Set(runs.map((r) => r.runId))).toEqual(new Set([a.runId, b.runId]))
      expect(runs.every((r) => r.status === "completed")).toBe(true)
    }))

  it.live("writes sink output in source order under concurrency, however long each row takes", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const records = Array.from({ length: 60 }, (_, i) => ({ n: i }))
      const pipeline = Pipeline.make({
        name: "ordered",
        source: Source.fromIterable({ records, schema: Schema.Struct({ n: Schema.Number }) })
      }).pipe(
        // Later rows finish first: row i sleeps (60 - i) % 7 ms.
        Pipeline.transform(Pipeline.makeTransform("slow", (r: { n: number }) => Effect.as(Effect.sleep(`${(60 - r.n) % 7} millis`), r))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      yield* Orchestrator.run(pipeline, { concurrency: 8, batchSize: 7 }).pipe(Effect.provide(layers(join(dir, "l.db"))))
      const lines = readFileSync(join(dir, "out.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).n)
      expect(lines).toEqual(records.map((r) => r.n))
    }))

  it.live("filters events below the configured granularity", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      yield* Orchestrator.run(ordersPipeline(dir))
      const exporter = yield* TestExporter.TestExporter
      expect(new Set(yield* exporter.tags)).toEqual(new Set(["RunStarted", "PhaseChanged", "RunFinished"]))
      // Row events are not even built when the hub would filter them: nothing reaches the hub to filter.
      const stats = yield* Telemetry.stats
      expect(stats.emitted).toBe(5)
      expect(stats.filtered).toBe(0)
    }).pipe(Effect.provide(layers(join(tempDir(), "l.db"), { granularity: "lifecycle" }))))

  it.live("records on the run that telemetry was switched off with layerDisabled", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "l.db")
      const summary = yield* Orchestrator.run(ordersPipeline(dir)).pipe(Effect.provide(Layer.merge(Telemetry.layerDisabled, LandscapeSqlite.layer({ filename: db }))))
      expect(summary.telemetryEnabled).toBe(false)
      const [run] = yield* querySqlite<{ telemetry_enabled: number; telemetry_granularity: string | null }>(db, "SELECT * FROM runs")
      expect(run).toMatchObject({ telemetry_enabled: 0, telemetry_granularity: null })
    }))
})

describe("metrics", () => {
  it.live("updates the engine metrics: rows read, routed per sink, quarantined per node, node-state durations", () =>
    Effect.gen(function* () {
      const value = (metric: typeof PipelineMetric.rowsRead, labels: Parameters<typeof PipelineMetric.labels>[0]) =>
        Effect.map(Metric.value(Metric.taggedWithLabels(metric, PipelineMetric.labels(labels))), (s) => s.count)
      const durations = Effect.map(
        Metric.value(Metric.taggedWithLabels(PipelineMetric.nodeStateDuration, PipelineMetric.labels({ node: "normalize", status: "completed" }))),
        (h) => h.count
      )
      const read = () => Effect.all([
        value(PipelineMetric.rowsRead, { node: "orders" }),
        value(PipelineMetric.rowsRouted, { sink: "small" }),
        value(PipelineMetric.rowsRouted, { sink: "large" }),
        value(PipelineMetric.rowsQuarantined, { node: "orders" }),
        durations
      ])
      const before = yield* read()
      const records = [...threeOrders, { id: "4", customer: "x", amount: "not a number" }]
      yield* Orchestrator.run(ordersPipeline(tempDir(), records)).pipe(Effect.provide(layers(join(tempDir(), "l.db"))))
      const after = yield* read()
      // Metrics are process-wide: compare with the values before this run.
      expect(after.map((a, i) => a - before[i]!)).toEqual([4, 2, 1, 1, 3])
    }))
})

describe("quarantine", () => {
  it.live("quarantines a malformed CSV row, an undecodable row and a failing transform, each with its reason recorded", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const csvPath = join(dir, "orders.csv")
      writeFileSync(csvPath, [
        "id,customer,amount",
        "1,ada,12.5",
        "2,grace", // one field short
        "3,alan,abc", // amount is not a number
        "4,edsger,-5", // the transform rejects negative amounts
        "5,\"barbara,40", // unclosed quote
        ""
      ].join("\n"))
      const Row = Schema.Struct({ id: Schema.NumberFromString, customer: Schema.String, amount: Schema.NumberFromString })
      const pipeline = Pipeline.make({ name: "csv", source: Source.csv({ name: "orders", path: csvPath, schema: Row }) }).pipe(
        Pipeline.transform(Pipeline.makeTransform("check", (r: typeof Row.Type) =>
          r.amount < 0 ? Effect.fail(new Error(`negative amount ${r.amount}`)) : Effect.succeed(r))),
        Pipeline.toSinks({
          sinks: { out: Sink.csv({ path: join(dir, "out.csv") }) },
          default: "out",
          quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
        })
      )
      const db = join(dir, "l.db")
      const summary = yield* Orchestrator.run(pipeline).pipe(Effect.provide(layers(db)))
      const quarantined = readFileSync(join(dir, "quarantine.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
      expect(summary.rowsRead).toBe(summary.rowsPerSink.out! + summary.quarantined)
      expect(summary.rowsPerSink.out).toBe(1)
      expect(quarantined.map((q) => q.node).sort()).toEqual(["check", "orders", "orders", "orders"])
      expect(quarantined.find((q) => q.node === "check").reason).toContain("negative amount -5")
      expect(quarantined.some((q) => /2 fields, the header has 3/.test(q.reason))).toBe(true)
      expect(quarantined.some((q) => /Unable to decode "abc"/.test(q.reason))).toBe(true)
      expect(quarantined.some((q) => /quote/i.test(q.reason))).toBe(true)
      // Every source row is in the Landscape, and each quarantined one has a failed node state with the error.
      const [{ n }] = (yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM rows")) as [{ n: number }]
      expect(n).toBe(summary.rowsRead)
      const failed = yield* querySqlite<{ name: string; error_json: string }>(db,
        "SELECT nodes.name, error_json FROM node_states JOIN nodes USING (node_id) WHERE status = 'failed'")
      expect(failed.length).toBe(4)
      for (const f of failed) {
        const error = JSON.parse(f.error_json) as { kind: string; message?: string; issues?: Array<{ path: Array<string>; message: string }> }
        expect(["parse", "decode", "failure"]).toContain(error.kind)
        expect(error.kind === "decode" ? error.issues![0]!.path : error.message!.length).toBeTruthy()
      }
      const outcomes = yield* querySqlite<{ outcome: string; n: number }>(db, "SELECT outcome, count(*) AS n FROM tokens GROUP BY outcome ORDER BY outcome")
      expect(outcomes).toEqual([{ outcome: "quarantined", n: 4 }, { outcome: "routed", n: 1 }])
    }))
})
