/**
 * Conformance suite, integrity: on each backend (SQLite, PostgreSQL), Landscapes written by the real
 * engine: `verify` (hashes, hash chain, outcomes, open records, calls), tampering with the database
 * after the fact, recovery of a run left by a dead process, signed export and its offline check.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { createHash } from "node:crypto"
import { join } from "node:path"
import { CallScope, Landscape, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { tempDir } from "./helpers.js"
import { eachBackend, type Store } from "./support/backends.js"

const at = (store: Store) => store.layer()
const verifyAt = (store: Store, runId: string) => Landscape.verify(runId).pipe(Effect.provide(at(store)))
const key = Redacted.make("test-signing-key")

/** The chain link of the node state of `node` for the row at `rowIndex`. */
const linkOfState = (store: Store, runId: string, rowIndex: number, node: string) =>
  Effect.map(store.exec<{ state_id: string; chain_seq: number }>(`
    SELECT s.state_id, s.chain_seq FROM node_states s JOIN tokens t ON t.token_id = s.token_id JOIN rows r ON r.row_id = t.row_id
    JOIN nodes n ON n.node_id = s.node_id WHERE r.run_id = '${runId}' AND r.row_index = ${rowIndex} AND n.name = '${node}'`), (rows) => rows[0]!)

eachBackend((backend) => {
  const shared = Effect.map(backend.shared(), (s) => ({ db: s.store, orders: s.orders, llm: s.llm }))
  const copyOf = (store: Store) => backend.copy(store)

  describe("verify", () => {
    it.live("passes on runs the engine wrote: every payload re-hashed, the chain recomputed and equal to the stored final value", () =>
      Effect.gen(function* () {
        const { db, llm, orders } = yield* shared
        const o = yield* verifyAt(db, orders)
        expect(o).toMatchObject({ ok: true, problems: [], inFlight: 0, firstDivergentLink: null, canonicalVersion: "sha256-rfc8785-v1" })
        expect(o.counts).toMatchObject({ rows: 4, tokens: 4, nodeStates: 7, operations: 4, hashesChecked: 5 })
        expect(o.chainHash.computed).toBe(o.chainHash.stored)
        const l = yield* verifyAt(db, llm)
        expect(l).toMatchObject({ ok: true, problems: [] })
        expect(l.counts.calls).toBe(4)
        expect(l.counts.hashesChecked).toBe(1 + 2 + 8) // configuration, rows, requests and responses
      }))

    it.live("an edited source record: its hash no longer matches", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const copy = yield* copyOf(db)
        yield* copy.exec(`UPDATE rows SET source_data_json = '{"amount":"1","customer":"ada","id":"1"}' WHERE run_id = '${orders}' AND row_index = 0`)
        const report = yield* verifyAt(copy, orders)
        expect(report.ok).toBe(false)
        expect(report.problems).toEqual([expect.objectContaining({ check: "hash", message: expect.stringContaining("source data does not match") })])
        expect(report.firstDivergentLink).toBeNull() // payloads enter the chain by hash only
      }))

    it.live("an edited hash, a deleted node state, an inserted routing decision: verify names the first divergent batch", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const edited = yield* copyOf(db)
        const state = yield* linkOfState(edited, orders, 2, "normalize")
        yield* edited.exec(`UPDATE node_states SET output_hash = '${"0".repeat(64)}' WHERE state_id = '${state.state_id}'`)
        const a = yield* verifyAt(edited, orders)
        expect(a.firstDivergentLink).toBe(state.chain_seq)
        expect(a.problems).toContainEqual(expect.objectContaining({ check: "chain", record: `audit_chain ${orders} ${state.chain_seq}` }))
        expect(a.problems).toContainEqual(expect.objectContaining({ check: "lineage" })) // the gate's input no longer follows

        const deleted = yield* copyOf(db)
        yield* deleted.exec(`DELETE FROM node_states WHERE state_id = '${state.state_id}'`)
        expect((yield* verifyAt(deleted, orders)).firstDivergentLink).toBe(state.chain_seq)

        const inserted = yield* copyOf(db)
        const [routing] = yield* inserted.exec<{ state_id: string; token_id: string }>(`SELECT state_id, token_id FROM routing_events WHERE run_id = '${orders}' LIMIT 1`)
        yield* inserted.exec(`INSERT INTO routing_events (routing_id, run_id, state_id, token_id, destination, created_at, chain_seq, chain_ord)
          VALUES ('forged', '${orders}', '${routing!.state_id}', '${routing!.token_id}', 'large', 0, ${state.chain_seq}, 99)`)
        const c = yield* verifyAt(inserted, orders)
        expect(c.firstDivergentLink).toBe(state.chain_seq)
        expect(c.ok).toBe(false)

        const outside = yield* copyOf(db)
        yield* outside.exec(`INSERT INTO routing_events (routing_id, run_id, state_id, token_id, destination, created_at)
          VALUES ('unchained', '${orders}', '${routing!.state_id}', '${routing!.token_id}', 'large', 0)`)
        expect((yield* verifyAt(outside, orders)).problems).toContainEqual(expect.objectContaining({ check: "chain", message: expect.stringContaining("in no link") }))
      }))

    it.live("a deleted last link, or a rewritten final value, breaks the run's final chain value", () =>
      Effect.gen(function* () {
        const { db, orders } = yield* shared
        const cut = yield* copyOf(db)
        yield* cut.exec(`DELETE FROM audit_chain WHERE run_id = '${orders}' AND seq = (SELECT max(seq) FROM audit_chain WHERE run_id = '${orders}')`)
        const a = yield* verifyAt(cut, orders)
        expect(a.problems).toEqual([expect.objectContaining({ check: "chain", record: `audit_chain ${orders} ${a.counts.links + 1}`, message: expect.stringContaining("missing") })])
        const rewritten = yield* copyOf(db)
        yield* rewritten.exec(`UPDATE runs SET chain_hash = '${"f".repeat(64)}' WHERE run_id = '${orders}'`)
        expect((yield* verifyAt(rewritten, orders)).problems).toEqual([expect.objectContaining({ check: "chain", record: `runs ${orders}` })])
      }))

    it.live("a completed run's token without outcome, a state left running, a call with two parents are named", () =>
      Effect.gen(function* () {
        const { db, llm, orders } = yield* shared
        const copy = yield* copyOf(db)
        // The database refuses to change a token's outcome (schema 0008): a tamperer drops the trigger first.
        yield* copy.exec("DROP TRIGGER tokens_one_outcome" + (backend.name === "postgres" ? " ON tokens" : ""))
        yield* copy.exec(`UPDATE tokens SET outcome = NULL WHERE run_id = '${orders}' AND row_id = (SELECT row_id FROM rows WHERE run_id = '${orders}' AND row_index = 0)`)
        yield* copy.exec(`UPDATE node_states SET status = 'running' WHERE state_id = (SELECT state_id FROM node_states WHERE run_id = '${orders}' AND step_index = 1 LIMIT 1)`)
        const report = yield* verifyAt(copy, orders)
        expect(report.problems.map((p) => p.check)).toEqual(expect.arrayContaining(["outcome", "open", "chain"]))
        // The CHECK constraint forbids a call with both parents; a tamperer can switch it off.
        yield* backend.withoutChecks(copy, `UPDATE calls SET operation_id = (SELECT operation_id FROM operations WHERE run_id = '${llm}' LIMIT 1)
          WHERE call_id = (SELECT call_id FROM calls WHERE run_id = '${llm}' LIMIT 1)`)
        const calls = yield* verifyAt(copy, llm)
        expect(calls.problems.filter((p) => p.check === "call")).toEqual([expect.objectContaining({ message: expect.stringContaining("neither") })])
      }))

    it.live("an interrupted run: tokens in flight are counted, not reported as corruption, and its chain ends with the interruption", () =>
      Effect.gen(function* () {
        const db = yield* backend.fresh()
        const Row = Schema.Struct({ n: Schema.Number })
        const dir = tempDir()
        const pipeline = Pipeline.make({ name: "slow", source: Source.fromIterable({ records: [{ n: 1 }, { n: 2 }], schema: Row }) }).pipe(
          // Row 0 passes at once; row 1 makes a call (which writes it, state running) and waits forever:
          // it is in flight when the run is interrupted.
          Pipeline.transform(Pipeline.makeTransform("wait", (r: typeof Row.Type) =>
            r.n === 1 ? Effect.succeed(r) : Effect.zipRight(CallScope.recordCall({ callType: "http", status: "success", attributes: {}, latencyMs: 1 }), Effect.never))),
          Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
        )
        // The time-out interrupts the run and its layers together: the run closes its operations and
        // records its end before the Landscape's connection closes.
        yield* Orchestrator.run(pipeline, { batchSize: 1, batchWindow: "10 millis" }).pipe(
          Effect.provide(Layer.merge(TestExporter.layer(), at(db))),
          Effect.timeout("1 second"),
          Effect.ignore
        )
        const [run] = yield* Landscape.runs().pipe(Effect.provide(at(db)))
        expect(run!.status).toBe("interrupted")
        const report = yield* verifyAt(db, run!.runId)
        // Row 1 was written (its running state) and never completed: in flight, not corruption.
        expect(report.inFlight).toBe(1)
        expect(report.counts.rows).toBe(2)
        expect(report.chainHash.computed).toBe(report.chainHash.stored)
        // Operations closed before the run's end was recorded: no late link, nothing wrong.
        expect(report.problems).toEqual([])
      }))
  })

  describe("recovery", () => {
    it.live("a run found dead on open is marked interrupted in one more link of its chain, and verifies", () =>
      Effect.gen(function* () {
        const db = yield* backend.fresh()
        const now = Date.now()
        // A run as a process that then died leaves it: a row written by a call, its state running, an operation open.
        yield* Effect.gen(function* () {
          const l = yield* Landscape.Landscape
          yield* l.beginRun({ runId: "r", pipeline: "p", config: {}, telemetryEnabled: false, telemetryGranularity: "lifecycle", startedAt: now })
          yield* l.registerNodes([
            { nodeId: "src", runId: "r", name: "source", kind: "source", position: 0, config: {} },
            { nodeId: "step", runId: "r", name: "lookup", kind: "transform", position: 1, config: {} }
          ])
          yield* l.beginOperation({ operationId: "op", runId: "r", nodeId: "src", kind: "memory.read", details: { n: 1 }, startedAt: now })
          yield* l.recordBatch({
            rows: [{ rowId: "row", tokenId: "tok", runId: "r", sourceNodeId: "src", rowIndex: 0, dataJson: "{}", dataHash: createHash("sha256").update("{}").digest("hex"), createdAt: now }],
            nodeStates: [],
            runningStates: [{ stateId: "st", runId: "r", tokenId: "tok", nodeId: "step", stepIndex: 1, inputHash: "h", startedAt: now }],
            stateUpdates: [],
            routing: [],
            calls: [{ callId: "c", runId: "r", nodeId: "step", stateId: "st", callType: "http", status: "success", request: { url: "x" }, attributes: {}, latencyMs: 1, createdAt: now }],
            outcomes: []
          })
        }).pipe(Effect.provide(at(db)))
        // The next open finds no heartbeat within `staleRunAfter` and marks it interrupted.
        const run = yield* Landscape.getRun("r").pipe(Effect.provide(db.layer({ staleRunAfter: "0 millis" })))
        expect(Option.getOrThrow(run)).toMatchObject({ status: "interrupted", chainHash: expect.stringMatching(/^[0-9a-f]{64}$/) })
        const report = yield* verifyAt(db, "r")
        expect(report).toMatchObject({ ok: true, problems: [], inFlight: 1, counts: { links: 5, calls: 1 } }) // begin, nodes, operation, batch, recovery
        const [link] = yield* db.exec<{ kind: string; records: number }>("SELECT kind, records FROM audit_chain WHERE run_id = 'r' ORDER BY seq DESC LIMIT 1")
        expect(link).toEqual({ kind: "recover", records: 3 }) // the state, the operation, the run
      }))
  })

  describe("export", () => {
    it.live("signs every record, ends in a manifest, and verifies offline; an edited line or another key is caught", () =>
      Effect.gen(function* () {
        const { db, llm } = yield* shared
        const lines = Chunk.toReadonlyArray(yield* Stream.runCollect(Landscape.exportRun(llm, key).pipe(Stream.provideLayer(at(db)))))
        const manifest = JSON.parse(lines.at(-1)!) as Landscape.ExportManifest & { signature: string }
        expect(manifest).toMatchObject({ type: "manifest", runId: llm, recordCount: lines.length - 1, signatureAlgorithm: "hmac-sha256", hashAlgorithm: "sha256" })
        const types = new Set(lines.slice(0, -1).map((l) => (JSON.parse(l) as { type: string }).type))
        expect([...types].sort()).toEqual(["call", "link", "node", "node_state", "operation", "routing", "row", "run", "token"].filter((t) => t !== "routing").sort())
        expect(lines.join("\n")).not.toContain("test-signing-key")
        const ok = yield* Landscape.verifyExport(Stream.fromIterable(lines), key)
        expect(ok).toMatchObject({ ok: true, runId: llm, records: lines.length - 1, problems: [] })

        const edited = lines.map((l) => (l.includes("\"type\":\"row\"") ? l.replace("Alien", "Alien 2") : l))
        const bad = yield* Landscape.verifyExport(Stream.fromIterable(edited), key)
        expect(bad.ok).toBe(false)
        expect(bad.problems).toContainEqual(expect.objectContaining({ check: "signature" }))
        const otherKey = yield* Landscape.verifyExport(Stream.fromIterable(lines), Redacted.make("another key"))
        expect(otherKey.problems.length).toBe(lines.length)
        const cut = yield* Landscape.verifyExport(Stream.fromIterable(lines.slice(0, -1)), key)
        expect(cut.problems).toContainEqual(expect.objectContaining({ message: expect.stringContaining("no manifest") }))
      }))

    it.live("refuses to export without a signing key", () =>
      Effect.gen(function* () {
        const { db, llm } = yield* shared
        const previous = process.env["SIGHTLINE_SIGNING_KEY"]
        delete process.env["SIGHTLINE_SIGNING_KEY"]
        const error = yield* Effect.flip(Stream.runDrain(Landscape.exportRun(llm).pipe(Stream.provideLayer(at(db)))))
        if (previous !== undefined) process.env["SIGHTLINE_SIGNING_KEY"] = previous
        expect(error).toMatchObject({ _tag: "LandscapeError", operation: "export" })
        expect(error.message).toContain("SIGHTLINE_SIGNING_KEY")
      }))
  })
})
