/**
 * Expansion (1 → N) through the real Orchestrator and a real SQLite Landscape (issue 12): the
 * parent token ends `expanded`, each row it returns continues as a child token of its own (linked
 * in `token_parents`, in order) to its own sink or quarantine, every token has exactly one terminal
 * outcome (the database refuses a second), and the hash chain covers the links.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Predicate, Schema } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const Order = Schema.Struct({ id: Schema.Number, items: Schema.Array(Schema.Struct({ sku: Schema.String, price: Schema.Number })) })
type Order = typeof Order.Type
interface Line {
  readonly order: number
  readonly sku: string
  readonly price: number
}

const orders = [
  { id: 1, items: [{ sku: "a", price: 5 }, { sku: "b", price: 50 }] },
  { id: 2, items: [] },
  { id: 3, items: [{ sku: "c", price: -1 }, { sku: "d", price: 7 }, { sku: "e", price: 70 }] },
  { id: 4, items: [{ sku: "boom", price: 1 }] }
]

const pipelineIn = (dir: string) =>
  Pipeline.make({ name: "lines", source: Source.fromIterable({ records: orders, schema: Order, name: "orders" }) }).pipe(
    Pipeline.expand(Pipeline.makeExpand("explode", (o: Order) =>
      o.items.some((i) => i.sku === "boom") ? Effect.fail(new Error("order 4 cannot be read")) : Effect.succeed(o.items.map((i): Line => ({ order: o.id, ...i }))))),
    // Async for one line in two: children settle both ways.
    Pipeline.transform(Pipeline.makeTransform("check", (l: Line) =>
      l.price < 0 ? Effect.fail(new Error(`line ${l.sku} has a negative price`)) : l.price > 6 ? Effect.as(Effect.yieldNow(), l) : Effect.succeed(l))),
    Pipeline.gate(Pipeline.makeGate("size", ["dear"], (l: Line) => Effect.succeed(l.price >= 50 ? "dear" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: { cheap: Sink.jsonLines<Line>({ path: join(dir, "cheap.jsonl") }), dear: Sink.jsonLines<Line>({ path: join(dir, "dear.jsonl") }) },
      default: "cheap",
      quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
    })
  )

const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

describe("Pipeline.expand", () => {
  it.live("each row returned is a child token to its own end; the parent ends expanded; links, outcomes and chain recorded", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(pipelineIn(dir), { batchSize: 2 })
      expect(summary).toMatchObject({ rowsRead: 4, rowsPerSink: { cheap: 2, dear: 2 }, quarantined: 2 })
      expect(lines(join(dir, "cheap.jsonl")).map((l) => l.sku)).toEqual(["a", "d"])
      expect(lines(join(dir, "dear.jsonl")).map((l) => l.sku)).toEqual(["b", "e"])
      expect(lines(join(dir, "q.jsonl")).map((q) => [q.rowIndex, q.node])).toEqual([[2, "check"], [3, "explode"]])

      const tokens = yield* querySqlite<{ row_index: number; token_id: string; outcome: string; node: string; parent: string | null; ordinal: number | null }>(db, `
        SELECT r.row_index, t.token_id, t.outcome, n.name AS node, p.parent_token_id AS parent, p.ordinal
        FROM tokens t JOIN rows r USING (row_id) JOIN nodes n ON n.node_id = t.sink_node_id LEFT JOIN token_parents p ON p.token_id = t.token_id
        ORDER BY r.row_index, p.ordinal IS NOT NULL, p.ordinal`)
      expect(tokens.map((t) => [t.row_index, t.outcome, t.node, t.ordinal])).toEqual([
        [0, "expanded", "explode", null], [0, "routed", "cheap", 0], [0, "routed", "dear", 1],
        [1, "expanded", "explode", null],
        [2, "expanded", "explode", null], [2, "quarantined", "quarantine", 0], [2, "routed", "cheap", 1], [2, "routed", "dear", 2],
        [3, "quarantined", "quarantine", null]
      ])
      // Every child's parent is its row's first token.
      for (const t of tokens.filter((t) => t.parent !== null)) {
        expect(t.parent).toBe(tokens.find((p) => p.row_index === t.row_index && p.parent === null)!.token_id)
      }

      const exporter = yield* TestExporter.TestExporter
      const completed = yield* exporter.eventsOf("TokenCompleted")
      expect(completed.map((e) => e.outcome)).toEqual(["expanded", "routed", "routed", "expanded", "expanded", "quarantined", "routed", "routed", "quarantined"])
      const checks = (yield* exporter.eventsOf("TransformCompleted")).filter((e) => e.nodeId !== completed[0]!.nodeId)
      expect(new Set(checks.map((e) => e.tokenId)).size).toBe(5)

      const trace = Option.getOrThrow(yield* Landscape.trace({ runId: summary.runId, rowId: completed[0]!.rowId }))
      expect(trace.tokens.map((t) => [t.parents.length, t.path.map((p) => p.node).join(" → "), t.outcome.outcome])).toEqual([
        [0, "explode", "expanded"], [1, "check → size", "routed"], [1, "check → size", "routed"]
      ])
      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
      // A child moved under a token that did not split, of another row, is named.
      const quarantinedRoot = tokens.find((t) => t.row_index === 3)!.token_id
      const moved = tokens.find((t) => t.row_index === 0 && t.ordinal === 0)!.token_id
      yield* querySqlite(db, `UPDATE token_parents SET parent_token_id = '${quarantinedRoot}' WHERE token_id = '${moved}'`)
      const stray = yield* Landscape.verify(summary.runId)
      expect(stray.problems.filter((p) => p.check === "outcome").map((p) => p.message)).toEqual([
        `token ${moved}'s parent ${quarantinedRoot} belongs to another row, not expanded, forked, coalesced or consumed in a batch`
      ])
      // The links are in the chain: reordering two children is found.
      yield* querySqlite(db, "UPDATE token_parents SET ordinal = 9 WHERE ordinal = 1")
      const tampered = yield* Landscape.verify(summary.runId)
      expect(tampered.problems.some((p) => p.check === "chain")).toBe(true)
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
  })

  it.live("the database keeps one terminal outcome per token: a second is refused", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      yield* Orchestrator.run(pipelineIn(dir)).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
      const changed = yield* Effect.exit(querySqlite(db, "UPDATE tokens SET outcome = 'routed' WHERE outcome = 'expanded'"))
      const error = Exit.isFailure(changed) ? Cause.squash(changed.cause) : "the update went through"
      expect(String(Predicate.hasProperty(error, "cause") ? error.cause : error)).toContain("a token has one terminal outcome")
      const [{ n }] = (yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM tokens WHERE outcome = 'expanded'")) as [{ n: number }]
      expect(n).toBe(3)
    }))
})
