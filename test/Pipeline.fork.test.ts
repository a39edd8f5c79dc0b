/**
 * Fork through the real Orchestrator and a real SQLite Landscape (issue 12): one row sent several
 * ways at once. The parent token ends `forked`; each route is a child token with its routing
 * decision on the fork's node state, to its sink or (`continue`) on through the next steps; the
 * fork's decision is in the hash chain and `verify` checks it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const Order = Schema.Struct({ id: Schema.Number, amount: Schema.Number })
type Order = typeof Order.Type
const orders = [{ id: 1, amount: 20 }, { id: 2, amount: 250 }, { id: 3, amount: 90 }, { id: 4, amount: 400 }, { id: 5, amount: 0 }]

const pipelineIn = (dir: string) =>
  Pipeline.make({ name: "tee", source: Source.fromIterable({ records: orders, schema: Order, name: "orders" }) }).pipe(
    // Large orders go to the audit file and on; an empty order nowhere (quarantined).
    Pipeline.fork(Pipeline.makeFork("tee", ["audit"], (o: Order) =>
      Effect.succeed(o.amount === 0 ? [] : o.amount >= 100 ? ["audit" as const, Pipeline.Continue, "audit" as const] : [Pipeline.Continue]))),
    Pipeline.gate(Pipeline.makeGate("size", ["large"], (o: Order) => Effect.succeed(o.amount >= 300 ? "large" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: {
        small: Sink.jsonLines<Order>({ path: join(dir, "small.jsonl") }),
        large: Sink.jsonLines<Order>({ path: join(dir, "large.jsonl") }),
        audit: Sink.jsonLines<Order>({ path: join(dir, "audit.jsonl") })
      },
      default: "small",
      quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
    })
  )

const ids = (path: string) => readFileSync(path, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as Order).id)

describe("Pipeline.fork", () => {
  it.live("each route a child token with its routing decision; the parent ends forked; verify checks the decision", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(pipelineIn(dir))
      expect(summary).toMatchObject({ rowsRead: 5, rowsPerSink: { small: 3, large: 1, audit: 2 }, quarantined: 1 })
      expect(ids(join(dir, "audit.jsonl"))).toEqual([2, 4])
      expect(ids(join(dir, "small.jsonl"))).toEqual([1, 2, 3])
      expect(ids(join(dir, "large.jsonl"))).toEqual([4])

      const tokens = yield* querySqlite<{ row_index: number; outcome: string; node: string; ordinal: number | null; destination: string | null }>(db, `
        SELECT r.row_index, t.outcome, n.name AS node, p.ordinal, e.destination
        FROM tokens t JOIN rows r USING (row_id) JOIN nodes n ON n.node_id = t.sink_node_id
        LEFT JOIN token_parents p ON p.token_id = t.token_id
        LEFT JOIN routing_events e ON e.token_id = t.token_id AND e.state_id IN (SELECT s.state_id FROM node_states s JOIN nodes f USING (node_id) WHERE f.name = 'tee')
        ORDER BY r.row_index, p.ordinal IS NOT NULL, p.ordinal`)
      expect(tokens.map((t) => [t.row_index, t.outcome, t.node, t.ordinal, t.destination])).toEqual([
        [0, "forked", "tee", null, null], [0, "routed", "small", 0, "continue"],
        [1, "forked", "tee", null, null], [1, "routed", "audit", 0, "audit"], [1, "routed", "small", 1, "continue"],
        [2, "forked", "tee", null, null], [2, "routed", "small", 0, "continue"],
        [3, "forked", "tee", null, null], [3, "routed", "audit", 0, "audit"], [3, "routed", "large", 1, "continue"],
        [4, "quarantined", "quarantine", null, null]
      ])
      const completed = yield* (yield* TestExporter.TestExporter).eventsOf("TokenCompleted")
      expect(completed.filter((e) => e.outcome === "forked")).toHaveLength(4)
      const gates = yield* (yield* TestExporter.TestExporter).eventsOf("GateEvaluated")
      expect(gates.filter((g) => g.destination === "audit")).toHaveLength(2)

      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
      // A fork's recorded decision no longer matching its routes is found.
      yield* querySqlite(db, "UPDATE routing_events SET destination = 'small' WHERE destination = 'audit'")
      const tampered = yield* Landscape.verify(summary.runId)
      expect(tampered.problems.filter((p) => p.check === "lineage").map((p) => p.message)).toEqual([
        `gate output hash does not match its routing decision "small, continue"`,
        `gate output hash does not match its routing decision "small, continue"`
      ])
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
  })
})
