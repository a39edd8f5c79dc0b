/**
 * Conformance suite, write side: on each backend (SQLite, PostgreSQL), the schema its migrations
 * build, the service's writes as the engine makes them, the writes it refuses (with
 * `LandscapeError`, recording nothing), and many fibers appending to one run's chain at once (on
 * PostgreSQL, over several pooled connections).
 */
import { expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { Landscape } from "../src/index.js"
import { eachBackend, type Store } from "./support/backends.js"

const sha = (text: string) => createHash("sha256").update(text).digest("hex")
/** Fresh: a run whose heartbeat is older than a minute is taken for dead when a layer opens. */
const now = Date.now()

/** A run with a source and a transform, as the engine begins one. */
const begin = (runId: string) =>
  Effect.gen(function* () {
    const l = yield* Landscape.Landscape
    yield* l.beginRun({ runId, pipeline: "p", config: { a: 1 }, telemetryEnabled: false, telemetryGranularity: "lifecycle", startedAt: now })
    yield* l.registerNodes([
      { nodeId: `${runId}-src`, runId, name: "source", kind: "source", position: 0, config: {} },
      { nodeId: `${runId}-step`, runId, name: "step", kind: "transform", position: 1, config: {} },
      { nodeId: `${runId}-out`, runId, name: "out", kind: "sink", position: 2, config: {} }
    ])
  })

/** Row `i` of `runId`, through the step, routed to the sink: one batch as the committer writes it. */
const rowBatch = (runId: string, i: number): Landscape.RecordBatch => {
  const data = JSON.stringify({ i })
  const token = `${runId}-t${i}`
  const state = `${runId}-s${i}`
  return {
    rows: [{ rowId: `${runId}-r${i}`, tokenId: token, runId, sourceNodeId: `${runId}-src`, rowIndex: i, dataJson: data, dataHash: sha(data), createdAt: now + i }],
    nodeStates: [{
      stateId: state, runId, tokenId: token, nodeId: `${runId}-step`, stepIndex: 1, inputHash: sha(data), startedAt: now + i,
      status: "completed", outputHash: sha(data), completedAt: now + i + 1, durationMs: 0.123456789012345
    }],
    runningStates: [],
    stateUpdates: [],
    routing: [{ routingId: `${runId}-g${i}`, runId, stateId: state, tokenId: token, destination: "out", destinationNodeId: `${runId}-out`, createdAt: now + i }],
    calls: [],
    outcomes: [{ tokenId: token, outcome: "routed", sinkNodeId: `${runId}-out`, completedAt: now + i + 2 }]
  }
}

const finish = (runId: string, rows: number) =>
  Effect.flatMap(Landscape.Landscape, (l) =>
    l.finishRun({ runId, status: "completed", finishedAt: now + 10_000, durationMs: 10_000.5, rowsRead: rows, rowsQuarantined: 0 }))

eachBackend((backend) => {
  const within = (store: Store) => <A, E>(effect: Effect.Effect<A, E, Landscape.Landscape>) => Effect.provide(effect, store.layer())

  it.live("applies its migrations once, records them, and creates every table", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      for (let i = 0; i < 2; i++) yield* within(store)(Landscape.listRuns())
      const applied = yield* store.exec<{ migration_id: number; name: string }>("SELECT migration_id, name FROM effect_sql_migrations ORDER BY migration_id")
      expect(applied).toEqual([
        { migration_id: 1, name: "create_landscape" },
        { migration_id: 2, name: "run_owner_and_interrupted" },
        { migration_id: 3, name: "chain_and_read_side" },
        { migration_id: 4, name: "parent_run" },
        { migration_id: 5, name: "chain_mark" },
        { migration_id: 6, name: "run_partitions" },
        { migration_id: 7, name: "run_resume" },
        { migration_id: 8, name: "token_lineage" },
        { migration_id: 9, name: "batches" },
        { migration_id: 10, name: "node_kinds" },
        { migration_id: 11, name: "run_stats" }
      ])
      expect(yield* backend.tables(store)).toEqual(expect.arrayContaining([
        "audit_chain", "batch_members", "batches", "call_stats", "calls", "effect_sql_migrations", "llm_usage_stats", "node_state_stats", "node_states", "nodes",
        "operations", "quarantine_stats", "routing_events", "rows", "run_checkpoints", "run_partitions", "run_resumes", "runs", "token_outcome_stats", "token_parents", "tokens"
      ]))
    }))

  it.live("records a run written through the service's calls exactly: read back, explained and verified, doubles kept to the last digit", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const run = within(store)
      yield* run(Effect.gen(function* () {
        yield* begin("w")
        const l = yield* Landscape.Landscape
        yield* l.beginOperation({ operationId: "w-op", runId: "w", nodeId: "w-src", kind: "memory.read", details: { n: 2 }, startedAt: now })
        for (let i = 0; i < 2; i++) yield* l.recordBatch(rowBatch("w", i))
        yield* l.completeOperation({ operationId: "w-op", status: "completed", details: { n: 2, read: 2 }, completedAt: now + 5, durationMs: 5 })
        yield* finish("w", 2)
      }))
      const stored = Option.getOrThrow(yield* run(Landscape.getRun("w")))
      expect(stored).toMatchObject({ status: "completed", rowsRead: 2, durationMs: 10_000.5, startedAt: now, chainHash: expect.stringMatching(/^[0-9a-f]{64}$/) })
      const e = Option.getOrThrow(yield* run(Landscape.explain({ runId: "w", rowIndex: 1 })))
      expect(e.states).toEqual([expect.objectContaining({ node: "step", status: "completed", durationMs: 0.123456789012345, startedAt: now + 1 })])
      expect(e.outcome).toMatchObject({ outcome: "routed", sink: "out" })
      const report = yield* run(Landscape.verify("w"))
      expect(report).toMatchObject({ ok: true, problems: [], counts: { rows: 2, tokens: 2, nodeStates: 2, operations: 1, links: 7 } }) // begin, nodes, operation, 2 batches, operation end, end
    }))

  it.live("refuses what would corrupt the audit with LandscapeError and records nothing of it", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const run = within(store)
      yield* run(Effect.zipRight(begin("a"), begin("b")))
      const refused = (effect: Effect.Effect<void, Landscape.LandscapeError, Landscape.Landscape>) => run(Effect.flip(effect))
      const l = Landscape.Landscape
      const errors = [
        yield* refused(Effect.flatMap(l, (s) => s.finishRun({ runId: "nope", status: "completed", finishedAt: now, durationMs: 0, rowsRead: 0, rowsQuarantined: 0 }))),
        yield* refused(Effect.flatMap(l, (s) => s.recordBatch({ ...rowBatch("a", 0), routing: rowBatch("b", 0).routing }))),
        yield* refused(Effect.flatMap(l, (s) => s.registerNodes([{ nodeId: "x1", runId: "a", name: "x", kind: "transform", position: 5, config: {} }, { nodeId: "x2", runId: "b", name: "x", kind: "transform", position: 5, config: {} }]))),
        yield* refused(Effect.flatMap(l, (s) => s.completeOperation({ operationId: "nope", status: "completed", details: {}, completedAt: now, durationMs: 0 }))),
        // A duplicate row id: the database refuses it, the link is rolled back with it.
        yield* refused(Effect.flatMap(l, (s) => Effect.zipRight(s.recordBatch(rowBatch("a", 0)), s.recordBatch({ ...rowBatch("a", 0), routing: [], nodeStates: [], outcomes: [] }))))
      ]
      expect(errors.map((e) => [e._tag, e.operation])).toEqual([
        ["LandscapeError", "finishRun"], ["LandscapeError", "recordBatch"], ["LandscapeError", "registerNodes"],
        ["LandscapeError", "completeOperation"], ["LandscapeError", "recordBatch"]
      ])
      yield* run(finish("a", 1))
      yield* run(finish("b", 0))
      const again = yield* refused(finish("a", 1))
      expect(again.message).toContain("already completed")
      for (const id of ["a", "b"]) expect(yield* run(Landscape.verify(id))).toMatchObject({ ok: true, problems: [] })
      const [links] = yield* store.exec<{ n: number }>("SELECT count(*) AS n FROM audit_chain WHERE run_id = 'a'")
      expect(Number(links!.n)).toBe(4) // begin, nodes, the one good batch, end
    }))

  it.live("a read-only Landscape reads, and refuses every write with LandscapeError", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      yield* within(store)(Effect.zipRight(begin("r"), finish("r", 0)))
      const readOnly = <A, E>(effect: Effect.Effect<A, E, Landscape.Landscape>) => Effect.provide(effect, store.layer({ readonly: true }))
      expect(Option.getOrThrow(yield* readOnly(Landscape.getRun("r")))).toMatchObject({ status: "completed" })
      expect(yield* readOnly(Landscape.verify("r"))).toMatchObject({ ok: true })
      const error = yield* Effect.flip(readOnly(begin("s")))
      expect(error).toMatchObject({ _tag: "LandscapeError", operation: "beginRun" })
      expect(yield* readOnly(Landscape.purge({ olderThan: now + 60_000, dryRun: true }))).toMatchObject({ runs: ["r"], dryRun: true })
      expect(yield* Effect.flip(readOnly(Landscape.purge({ olderThan: now + 60_000 })))).toMatchObject({ _tag: "LandscapeError", operation: "purge" })
      expect(yield* within(store)(Landscape.runs())).toHaveLength(1)
    }))

  it.live("many fibers appending to one run at once keep one chain, link after link, that verifies", () =>
    Effect.gen(function* () {
      const store = yield* backend.fresh()
      const rows = 60
      yield* within(store)(Effect.gen(function* () {
        yield* begin("c")
        const l = yield* Landscape.Landscape
        yield* Effect.forEach(Array.from({ length: rows }, (_, i) => i), (i) => l.recordBatch(rowBatch("c", i)), { concurrency: 16, discard: true })
        yield* finish("c", rows)
      }))
      const seqs = yield* store.exec<{ seq: number }>("SELECT seq FROM audit_chain WHERE run_id = 'c' ORDER BY seq")
      expect(seqs.map((s) => Number(s.seq))).toEqual(Array.from({ length: rows + 3 }, (_, i) => i + 1))
      expect(yield* within(store)(Landscape.verify("c"))).toMatchObject({ ok: true, problems: [], counts: { rows, links: rows + 3 } })
    }))
})
