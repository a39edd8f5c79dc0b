/**
 * Hierarchical runs (W3C Trace Context, issue 11 §4): a run started by another run's step records
 * that run as its parent and joins its trace; a run given a caller's `traceparent` continues the
 * caller's trace. Through the real Orchestrator on a real SQLite Landscape.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter, TraceContext } from "../src/index.js"
import { ordersPipeline, querySqlite, tempDir, threeOrders } from "./helpers.js"

const layers = (db: string) => Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))

const Batch = Schema.Struct({ batch: Schema.String })

/** An orchestrator pipeline: each of its rows starts a worker run of the orders pipeline. */
const orchestrator = (dir: string) =>
  Pipeline.make({ name: "orchestrator", source: Source.fromIterable({ name: "batches", records: [{ batch: "a" }, { batch: "b" }], schema: Batch }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("dispatch", (b: typeof Batch.Type) =>
      Effect.map(
        Orchestrator.run(ordersPipeline(join(dir, b.batch), threeOrders)).pipe(Effect.orDie),
        (summary) => ({ ...b, workerRunId: summary.runId })
      ))),
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines({ path: join(dir, "dispatched.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

describe("Orchestrator.run parent", () => {
  it.live("a run started in another run's step records it as parent, shares its trace, and is listed among its children", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const parent = yield* Orchestrator.run(orchestrator(dir), { concurrency: 1 }).pipe(Effect.provide(layers(db)))
      const children = yield* Landscape.runs({ parentRunId: parent.runId }).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))
      expect(children).toHaveLength(2)
      const [parentRow] = yield* Landscape.runs({ pipeline: "orchestrator" }).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))
      expect(parentRow?.parentRunId).toBeNull()
      for (const child of children) {
        expect(child).toMatchObject({ pipeline: "orders", status: "completed", parentRunId: parent.runId, traceId: parentRow?.traceId })
      }
      const stored = yield* querySqlite<{ run_id: string; parent_run_id: string | null }>(db, "SELECT run_id, parent_run_id FROM runs ORDER BY started_at")
      expect(stored.filter((r) => r.parent_run_id === parent.runId)).toHaveLength(2)
      // The parent is part of the run's chained facts: every run verifies, and changing it is found.
      for (const r of stored) {
        expect((yield* Landscape.verify(r.run_id).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))).ok).toBe(true)
      }
      // The CLI lists the children too: `sightline runs --parent <run id>`.
      const cli = spawnSync(process.execPath, [join(import.meta.dirname, "..", "bin", "sightline.mjs"), "runs", "--parent", parent.runId, "--db", db, "--json"], { encoding: "utf8" })
      expect(cli.stderr).toBe("")
      expect((JSON.parse(cli.stdout) as Array<{ runId: string }>).map((r) => r.runId).sort()).toEqual(children.map((c) => c.runId).sort())
      yield* querySqlite(db, `UPDATE runs SET parent_run_id = 'someone-else' WHERE run_id = '${children[0]!.runId}'`)
      expect((yield* Landscape.verify(children[0]!.runId).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))).ok).toBe(false)
    }), 60_000)

  it.live("a run given a caller's traceparent and parent run id continues that trace and records that parent", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const incoming = TraceContext.fromHeaders((name) => (name === "traceparent" ? `00-${traceId}-00f067aa0ba902b7-01` : undefined))
      const { events, summary } = yield* Effect.gen(function* () {
        const summary = yield* Orchestrator.run(ordersPipeline(dir), { parent: { runId: "run-of-the-caller", span: Option.getOrThrow(incoming.parent) } })
        return { summary, events: yield* Effect.flatMap(TestExporter.TestExporter, (e) => e.events) }
      }).pipe(Effect.provide(layers(db)))
      expect(events.length).toBeGreaterThan(0)
      expect(new Set(events.map((e) => e.traceId))).toEqual(new Set([traceId]))
      const [run] = yield* Landscape.runs().pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))
      expect(run).toMatchObject({ runId: summary.runId, traceId, parentRunId: "run-of-the-caller" })
      expect((yield* Landscape.runs({ parentRunId: "run-of-the-caller" }).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))).map((r) => r.runId)).toEqual([summary.runId])
      expect((yield* Landscape.verify(summary.runId).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))).ok).toBe(true)
    }), 60_000)
})
