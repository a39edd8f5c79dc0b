/**
 * Conformance suite, read side: on each backend (SQLite, PostgreSQL), Landscapes written by the
 * real engine: lineage, findRows, audit queries with continuation tokens, runs, run summaries, purge.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Landscape } from "../src/index.js"
import { eachBackend, type Store } from "./support/backends.js"
import { runOrders } from "./support/landscapes.js"

const at = (store: Store) => store.layer()
const some = <A>(o: Option.Option<A>): A => Option.getOrThrowWith(o, () => new Error("expected Some"))

eachBackend((backend) => {
  const shared = Effect.map(backend.shared(), (s) => ({ db: s.store, orders: s.orders, llm: s.llm }))
  const copyOf = (store: Store) => backend.copy(store)

  describe("explain and trace", () => {
    it.live("explains a routed row by index, id and token: source data, every state in order, routing, outcome and sink", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const byIndex = some(yield* Landscape.explain({ runId: orders, rowIndex: 1 }).pipe(Effect.provide(at(db))))
        expect(byIndex.row).toMatchObject({ rowIndex: 1, sourceNode: "orders", data: { status: "stored", value: { id: "2", customer: "grace", amount: "250" } } })
        expect(byIndex.states.map((s) => [s.node, s.kind, s.status])).toEqual([["normalize", "transform", "completed"], ["size", "gate", "completed"]])
        expect(byIndex.states[1]!.routing).toEqual([{ destination: "large", sink: "large" }])
        expect(byIndex.states[1]!.inputHash).toBe(byIndex.states[0]!.outputHash)
        expect(byIndex.outcome).toMatchObject({ outcome: "routed", sink: "large" })
        const byRow = some(yield* Landscape.explain({ runId: orders, rowId: byIndex.row.rowId }).pipe(Effect.provide(at(db))))
        const byToken = some(yield* Landscape.explain({ runId: orders, tokenId: byIndex.token.tokenId }).pipe(Effect.provide(at(db))))
        expect(byRow).toEqual(byIndex)
        expect(byToken).toEqual(byIndex)
        expect(yield* Landscape.explain({ runId: orders, rowIndex: 99 }).pipe(Effect.provide(at(db)))).toEqual(Option.none())
      }))

    it.live("explains a quarantined row: the failed source state with its reason, outcome quarantined", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const e = some(yield* Landscape.explain({ runId: orders, rowIndex: 3 }).pipe(Effect.provide(at(db))))
        expect(e.states).toHaveLength(1)
        expect(e.states[0]).toMatchObject({ node: "orders", kind: "source", stepIndex: 0, status: "failed", error: { kind: "decode" } })
        expect(e.outcome).toMatchObject({ outcome: "quarantined", sink: "quarantine" })
      }))

    it.live("explains a row of the LLM example: each call with type, status, latency, hashes and the redacted payloads", () =>
      Effect.gen(function* () {
        const { db, llm } = yield* shared
        const e = some(yield* Landscape.explain({ runId: llm, rowIndex: 0 }).pipe(Effect.provide(at(db))))
        expect(e.states.map((s) => [s.node, s.calls.length])).toEqual([["classify", 1], ["audience", 1]])
        const call = e.states[0]!.calls[0]!
        expect(call).toMatchObject({ callType: "llm", status: "success", request: { status: "stored" }, response: { status: "stored" } })
        expect(call.requestHash).toMatch(/^[0-9a-f]{64}$/)
        expect(call.latencyMs).toBeGreaterThanOrEqual(0)
        expect(JSON.stringify(call.request)).toContain("Alien")
        expect(call.attributes["gen_ai.request.model"]).toBe("gpt-4o-mini")
        expect(e.outcome).toMatchObject({ outcome: "routed", sink: "triaged" })
      }))

    it.live("explain puts states (step, attempt, start) and calls (creation time) in order, whatever order they were stored in", () =>
      Effect.gen(function* () {
        const { db, llm } = yield* shared
        const copy = yield* copyOf(db)
        const e = some(yield* Landscape.explain({ runId: llm, rowIndex: 0 }).pipe(Effect.provide(at(copy))))
        const [classify, audience] = e.states
        const call = classify!.calls[0]!
        // Stored after the originals: a second attempt of `audience`, a state at an earlier step, an earlier call of `classify`.
        yield* copy.exec(`INSERT INTO node_states (state_id, run_id, token_id, node_id, step_index, attempt, status, input_hash, started_at)
          VALUES ('retry', '${llm}', '${e.token.tokenId}', '${audience!.nodeId}', ${audience!.stepIndex}, 2, 'running', '${audience!.inputHash}', ${audience!.startedAt + 1})`)
        yield* copy.exec(`INSERT INTO node_states (state_id, run_id, token_id, node_id, step_index, attempt, status, input_hash, started_at)
          VALUES ('first', '${llm}', '${e.token.tokenId}', '${classify!.nodeId}', 0, 1, 'completed', '${classify!.inputHash}', ${classify!.startedAt})`)
        yield* copy.exec(`INSERT INTO calls (call_id, run_id, node_id, state_id, call_type, status, attributes_json, latency_ms, created_at)
          VALUES ('earlier', '${llm}', '${classify!.nodeId}', '${classify!.stateId}', 'http', 'success', '{}', 1, ${call.createdAt - 1})`)
        const after = some(yield* Landscape.explain({ runId: llm, rowIndex: 0 }).pipe(Effect.provide(at(copy))))
        expect(after.states.map((s) => [s.stateId, s.attempt])).toEqual([["first", 1], [classify!.stateId, 1], [audience!.stateId, 1], ["retry", 2]])
        expect(after.states[1]!.calls.map((c) => c.callId)).toEqual(["earlier", call.callId])
        expect(after.states[1]!.calls[0]).toMatchObject({ callType: "http", request: { status: "none" }, response: { status: "none" }, attributes: {} })
      }))

    it.live("trace: a row's tokens, the path of each, where each ended", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const e = some(yield* Landscape.explain({ runId: orders, rowIndex: 0 }).pipe(Effect.provide(at(db))))
        const t = some(yield* Landscape.trace({ runId: orders, rowId: e.row.rowId }).pipe(Effect.provide(at(db))))
        expect(t.tokens).toEqual([{
          tokenId: e.token.tokenId,
          parents: [],
          rowId: e.row.rowId,
          path: [{ node: "normalize", status: "completed" }, { node: "size", status: "completed" }],
          outcome: expect.objectContaining({ outcome: "routed", sink: "small" })
        }])
        expect(yield* Landscape.trace({ runId: orders, rowId: "nope" }).pipe(Effect.provide(at(db)))).toEqual(Option.none())
      }))
  })

  describe("findRows", () => {
    it.live("finds rows by a source field through an index it creates; a read-only Landscape scans and finds the same", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const copy = yield* copyOf(db)
        const found = yield* Landscape.findRows({ runId: orders, where: { customer: "grace" } }).pipe(Effect.provide(at(copy)))
        expect(found.map((r) => [r.rowIndex, r.outcome, r.sink])).toEqual([[1, "routed", "large"]])
        expect(yield* backend.indexes(copy, "rows_field_")).toEqual(["rows_field_customer"])
        const condition = backend.name === "sqlite"
          ? `json_extract(r.source_data_json, '$."customer"') IN ('grace')`
          : `((r.source_data_json)::jsonb #> '{"customer"}') IN ('"grace"'::jsonb)`
        expect(yield* backend.usesIndex(copy, `SELECT row_id FROM rows r WHERE r.run_id = 'x' AND ${condition}`, "rows_field_customer")).toBe(true)
        const readOnly = yield* Landscape.findRows({ runId: orders, where: { amount: ["12.5", "99"] } }).pipe(Effect.provide(copy.layer({ readonly: true })))
        expect(readOnly.map((r) => r.rowIndex)).toEqual([0, 2])
        // Values match by JSON type: the stored amounts are strings, so the number finds nothing.
        expect(yield* Landscape.findRows({ runId: orders, where: { amount: 12.5 } }).pipe(Effect.provide(at(copy)))).toEqual([])
        expect((yield* Landscape.findRows({ runId: orders, where: { amount: "12.5", customer: ["ada", null] } }).pipe(Effect.provide(at(copy)))).map((r) => r.rowIndex)).toEqual([0])
        const error = yield* Effect.flip(Landscape.findRows({ runId: orders, where: { "a'b": 1 } }).pipe(Effect.provide(at(copy))))
        expect(error).toMatchObject({ _tag: "LandscapeError", operation: "findRows" })
      }))
  })

  describe("query", () => {
    it.live("filters by run, node, status, severity, kind and row", () =>
      Effect.gen(function* () {
        const { db, llm, orders } = yield* shared
        const q = (query: Landscape.AuditQuery) => Landscape.query(query).pipe(Effect.provide(at(db)))
        const failed = yield* q({ runIds: [orders], severity: "error" })
        expect(failed.items.map((i) => [i.kind, i.node, i.status])).toEqual([["nodeState", "orders", "failed"]])
        const quarantines = yield* q({ kinds: ["quarantine"] })
        expect(quarantines.items).toHaveLength(1)
        expect(quarantines.items[0]).toMatchObject({ runId: orders, node: "orders", status: "quarantined", severity: "warning" })
        expect(quarantines.items[0]!.message).toContain("amount")
        const calls = yield* q({ runIds: [llm], kinds: ["call"], nodes: ["audience"] })
        expect(calls.items.map((i) => [i.kind, i.node, i.status])).toEqual([["call", "audience", "success"], ["call", "audience", "success"]])
        const ops = yield* q({ runIds: [orders], kinds: ["operation"] })
        expect(ops.items.map((i) => i.status)).toEqual(["completed", "completed", "completed", "completed"])
        const rowId = quarantines.items[0]!.rowId!
        const ofRow = yield* q({ rowIds: [rowId] })
        expect(ofRow.items.map((i) => i.kind)).toEqual(["nodeState", "quarantine"])
        const late = yield* q({ since: Date.now() + 60_000 })
        expect(late.items).toEqual([])
      }))

    it.live("pages with a continuation token that neither skips nor repeats while another run writes", () =>
      Effect.gen(function* () {
        const { db } = yield* shared
        const copy = yield* copyOf(db)
        const all = yield* Landscape.query({ limit: 10_000 }).pipe(Effect.provide(at(copy)))
        expect(all.continuationToken).toBeNull()
        const seen: Array<string> = []
        let page = yield* Landscape.query({ limit: 3 }).pipe(Effect.provide(at(copy)))
        seen.push(...page.items.map((i) => i.id))
        // Another run writes (before and after the runs already paged) between pages.
        yield* runOrders(copy.layer())
        while (page.continuationToken !== null) {
          page = yield* Landscape.query({ limit: 3, continuationToken: page.continuationToken }).pipe(Effect.provide(at(copy)))
          seen.push(...page.items.map((i) => i.id))
          if (seen.length === 9) yield* runOrders(copy.layer())
        }
        expect(seen).toEqual(all.items.map((i) => i.id))
        expect(new Set(seen).size).toBe(seen.length)
        const wrong = yield* Effect.flip(Landscape.query({ limit: 3, nodes: ["size"], continuationToken: (yield* Landscape.query({ limit: 1 }).pipe(Effect.provide(at(copy)))).continuationToken! }).pipe(Effect.provide(at(copy))))
        expect(wrong.message).toContain("other filters")
      }))
  })

  describe("runs and summaries", () => {
    it.live("runs by status and pipeline; a summary with node counts, durations, calls, LLM usage and quarantine reasons", () =>
      Effect.gen(function* () {
        const { db, llm, orders } = yield* shared
        const runs = yield* Landscape.runs({ pipeline: "orders" }).pipe(Effect.provide(at(db)))
        expect(runs.map((r) => r.runId)).toEqual([orders])
        expect(runs[0]).toMatchObject({ status: "completed", canonicalVersion: "sha256-rfc8785-v1", chainHash: expect.stringMatching(/^[0-9a-f]{64}$/) })
        expect(yield* Landscape.runs({ status: "failed" }).pipe(Effect.provide(at(db)))).toEqual([])
        const s = some(yield* Landscape.runSummary(orders).pipe(Effect.provide(at(db))))
        expect(s.nodes.map((n) => [n.name, n.states])).toEqual([
          ["orders", { failed: 1 }], ["normalize", { completed: 3 }], ["size", { completed: 3 }], ["small", {}], ["large", {}], ["quarantine", {}]
        ])
        expect(s.nodes[1]!.durationMs!.max).toBeGreaterThanOrEqual(s.nodes[1]!.durationMs!.p50)
        expect(s.outcomes).toEqual({ routed: 3, quarantined: 1, failed: 0, completed: 0, expanded: 0, forked: 0, coalesced: 0, consumed_in_batch: 0, none: 0 })
        expect(s.sinks).toEqual({ small: 2, large: 1 })
        expect(s.quarantineReasons).toEqual([expect.objectContaining({ node: "orders", kind: "decode", count: 1 })])
        const l = some(yield* Landscape.runSummary(llm).pipe(Effect.provide(at(db))))
        expect(l.calls).toEqual([expect.objectContaining({ callType: "llm", status: "success", count: 4 })])
        expect(l.llm.run.calls).toBe(4)
        expect(l.llm.nodes.map((n) => n.node)).toEqual(["classify", "audience"])
        expect(yield* Landscape.runSummary("nope").pipe(Effect.provide(at(db)))).toEqual(Option.none())
      }))
  })

  describe("purge", () => {
    it.live("deletes payloads of finished runs older than the cut, keeps every hash: explain says purged, verify still passes", () =>
      Effect.gen(function* () {
        const { db, llm, orders } = yield* shared
        const copy = yield* copyOf(db)
        const dry = yield* Landscape.purge({ olderThan: Date.now() + 1000, dryRun: true }).pipe(Effect.provide(at(copy)))
        expect(dry).toMatchObject({ rows: 6, calls: 4, dryRun: true })
        expect(dry.bytes).toBeGreaterThan(0)
        const none = yield* Landscape.purge({ olderThan: 0 }).pipe(Effect.provide(at(copy)))
        expect(none.runs).toEqual([])
        const done = yield* Landscape.purge({ olderThan: Date.now() + 1000 }).pipe(Effect.provide(at(copy)))
        expect(done).toMatchObject({ rows: 6, calls: 4, dryRun: false })
        const e = some(yield* Landscape.explain({ runId: llm, rowIndex: 0 }).pipe(Effect.provide(at(copy))))
        expect(e.row.data).toMatchObject({ status: "purged" })
        expect(e.row.dataHash).toMatch(/^[0-9a-f]{64}$/)
        expect(e.states[0]!.calls[0]!.request).toMatchObject({ status: "purged" })
        expect(e.states[0]!.calls[0]!.requestHash).toMatch(/^[0-9a-f]{64}$/)
        for (const runId of [orders, llm]) {
          const report = yield* Landscape.verify(runId).pipe(Effect.provide(at(copy)))
          expect(report.problems).toEqual([])
          expect(report.counts.hashesChecked).toBe(1) // only the configuration: every payload is purged
        }
      }))
  })
})
