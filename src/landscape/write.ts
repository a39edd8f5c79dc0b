/**
 * The Landscape's write side over any `SqlClient`: what the engine records, each write one link of
 * its run's hash chain (`chain.ts`), in the same transaction as its records.
 *
 * Every write builds its facts and their batch hash before taking the connection, then, inside its
 * transaction, reads the run's last link, writes its records with their place in the chain and
 * appends the link, holding the run's chain lock ({@link writeTransaction}): SQLite's write lock, or
 * on PostgreSQL an advisory lock per run taken by every connection of every process. So an early
 * flush from a row's fiber, the committer's batch and another worker's writes to the same run
 * interleave freely: each gets the next link in commit order. Were the lock ever bypassed, the
 * chain still could not fork: a second link with the same number fails on `audit_chain`'s primary key.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Clock, Effect, Schedule } from "effect"
import { hostname } from "node:os"
import { yieldIfBusy } from "../internal/eventLoop.js"
import { canonicalJson, canonicalVersion, hashCanonical, sha256 } from "../internal/hashing.js"
import * as Chain from "./chain.js"
import { dialectOf, placeholders } from "./dialect.js"
import { numOrNull } from "./decode.js"
import { landscapeError, type LandscapeError } from "./error.js"
import { makeInserter } from "./insert.js"
import { writeCheckpoint } from "./partitions.js"
import type {
  BatchMemberRecord,
  BatchRecord,
  CallRecord,
  NodeStateEnd,
  NodeStateStart,
  PartitionCheckpoint,
  RecordBatch,
  RoutingRecord,
  RowRecord,
  RunCheckpoint,
  TokenEnd,
  TokenRecord
} from "./records.js"
import { writeRunCheckpoint } from "./resume.js"
import { makeStatsWriter, quarantineFacts, RunStats } from "./stats.js"

type Write = Effect.Effect<void, SqlError.SqlError | LandscapeError>

const json = (value: unknown): string => canonicalJson(value)
const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : json(value))

type StateInsert = NodeStateStart & Partial<Omit<NodeStateEnd, "stateId">>
type CallInsert = CallRecord & { readonly requestJson: string | null; readonly responseJson: string | null; readonly errorJson?: never }

/** A call with its payloads serialized and every payload's hash filled in (so purge keeps it checkable). */
export const prepareCall = (c: CallRecord): CallInsert => {
  const requestJson = jsonOrNull(c.request)
  const responseJson = jsonOrNull(c.response)
  return {
    ...c,
    requestJson,
    responseJson,
    ...(requestJson === null ? {} : { requestHash: c.requestHash ?? sha256(requestJson) }),
    ...(responseJson === null ? {} : { responseHash: c.responseHash ?? sha256(responseJson) })
  }
}

/** The facts of a batch's inserted records, in `Chain.columns` order, JSON-text columns by hash (see `Chain.FactWriter`). */
const writeFacts = {
  rows: (rows: ReadonlyArray<{ readonly row: RowRecord; readonly end: TokenEnd | undefined }>) => {
    const w = new Chain.FactWriter()
    for (const { row: r } of rows) w.begin("row").str(r.rowId).str(r.sourceNodeId).num(r.rowIndex).str(r.dataHash).num(r.createdAt).end()
    return w.list()
  },
  tokens: (rows: ReadonlyArray<{ readonly row: RowRecord; readonly end: TokenEnd | undefined }>) => {
    const w = new Chain.FactWriter()
    for (const { end, row: r } of rows) w.begin("token").str(r.tokenId).str(r.rowId).num(r.createdAt).str(end?.outcome).str(end?.sinkNodeId).num(end?.completedAt).end()
    return w.list()
  },
  /** Tokens besides each row's first, after those: the same fact. */
  childTokens: (tokens: ReadonlyArray<{ readonly token: TokenRecord; readonly end: TokenEnd | undefined }>) => {
    const w = new Chain.FactWriter()
    for (const { end, token: t } of tokens) w.begin("token").str(t.tokenId).str(t.rowId).num(t.createdAt).str(end?.outcome).str(end?.sinkNodeId).num(end?.completedAt).end()
    return w.list()
  },
  parents: (links: ReadonlyArray<ParentInsert>) => {
    const w = new Chain.FactWriter()
    for (const l of links) w.begin("token_parent").str(l.tokenId).str(l.parentTokenId).num(l.ordinal).end()
    return w.list()
  },
  states: (states: ReadonlyArray<{ readonly state: StateInsert; readonly errorJson: string | null }>) => {
    const w = new Chain.FactWriter()
    for (const { errorJson, state: s } of states) {
      w.begin("state").str(s.stateId).str(s.tokenId).str(s.nodeId).num(s.stepIndex).num(s.attempt ?? 1).str(s.status ?? "running")
        .str(s.inputHash).str(s.outputHash).json(errorJson).num(s.startedAt).num(s.completedAt).num(s.durationMs).end()
    }
    return w.list()
  },
  routing: (routing: ReadonlyArray<RoutingRecord>) => {
    const w = new Chain.FactWriter()
    for (const r of routing) w.begin("routing").str(r.routingId).str(r.stateId).str(r.tokenId).str(r.destination).str(r.destinationNodeId).num(r.createdAt).end()
    return w.list()
  },
  batches: (batches: ReadonlyArray<BatchRecord>) => {
    const w = new Chain.FactWriter()
    for (const b of batches) w.begin("batch").str(b.batchId).str(b.nodeId).num(b.createdAt).end()
    return w.list()
  },
  members: (members: ReadonlyArray<BatchMemberRecord>) => {
    const w = new Chain.FactWriter()
    for (const m of members) w.begin("batch_member").str(m.batchId).str(m.tokenId).num(m.ordinal).end()
    return w.list()
  },
  calls: (calls: ReadonlyArray<CallInsert>) => {
    const w = new Chain.FactWriter()
    for (const c of calls) {
      w.begin("call").str(c.callId).str(c.nodeId).str(c.stateId).str(c.operationId).str(c.callType).str(c.status).str(c.requestHash)
        .str(c.responseHash).json(json(c.attributes)).str(c.error).num(c.latencyMs).num(c.createdAt).end()
    }
    return w.list()
  }
}

interface ParentInsert {
  readonly tokenId: string
  readonly parentTokenId: string
  readonly ordinal: number
  readonly runId: string
}

/** The multi-row inserters of one client (see `insert.ts`); each record stores its chain place. */
export const makeInserters = (sql: SqlClient.SqlClient) => ({
  childTokens: makeInserter<{ readonly token: TokenRecord; readonly end: TokenEnd | undefined }>(sql, {
    name: "tokens",
    columns: ["token_id", "row_id", "run_id", "created_at", "outcome", "sink_node_id", "completed_at", "chain_seq", "chain_ord"],
    values: ({ end, token: t }, p, seq, ord) =>
      void p.push(t.tokenId, t.rowId, t.runId, t.createdAt, end?.outcome ?? null, end?.sinkNodeId ?? null, end?.completedAt ?? null, seq, ord)
  }),
  parents: makeInserter<ParentInsert>(sql, {
    name: "token_parents",
    columns: ["token_id", "parent_token_id", "ordinal", "run_id", "chain_seq", "chain_ord"],
    values: (l, p, seq, ord) => void p.push(l.tokenId, l.parentTokenId, l.ordinal, l.runId, seq, ord)
  }),
  rows: makeInserter<RowRecord>(sql, {
    name: "rows",
    columns: ["row_id", "run_id", "source_node_id", "row_index", "source_data_json", "source_data_hash", "created_at", "chain_seq", "chain_ord"],
    values: (r, p, seq, ord) => void p.push(r.rowId, r.runId, r.sourceNodeId, r.rowIndex, r.dataJson, r.dataHash, r.createdAt, seq, ord)
  }),
  /** A row's first token, with its outcome when the same batch holds it. */
  tokens: makeInserter<{ readonly row: RowRecord; readonly end: TokenEnd | undefined }>(sql, {
    name: "tokens",
    columns: ["token_id", "row_id", "run_id", "created_at", "outcome", "sink_node_id", "completed_at", "chain_seq", "chain_ord"],
    values: ({ end, row }, p, seq, ord) =>
      void p.push(row.tokenId, row.rowId, row.runId, row.createdAt, end?.outcome ?? null, end?.sinkNodeId ?? null, end?.completedAt ?? null, seq, ord)
  }),
  states: makeInserter<{ readonly state: StateInsert; readonly errorJson: string | null }>(sql, {
    name: "node_states",
    columns: [
      "state_id", "run_id", "token_id", "node_id", "step_index", "attempt", "status", "input_hash", "output_hash", "error_json",
      "started_at", "completed_at", "duration_ms", "chain_seq", "chain_ord"
    ],
    values: ({ errorJson, state: s }, p, seq, ord) =>
      void p.push(
        s.stateId, s.runId, s.tokenId, s.nodeId, s.stepIndex, s.attempt ?? 1, s.status ?? "running", s.inputHash, s.outputHash ?? null, errorJson,
        s.startedAt, s.completedAt ?? null, s.durationMs ?? null, seq, ord
      )
  }),
  routing: makeInserter<RoutingRecord>(sql, {
    name: "routing_events",
    columns: ["routing_id", "run_id", "state_id", "token_id", "destination", "destination_node_id", "created_at", "chain_seq", "chain_ord"],
    values: (r, p, seq, ord) => void p.push(r.routingId, r.runId, r.stateId, r.tokenId, r.destination, r.destinationNodeId ?? null, r.createdAt, seq, ord)
  }),
  batches: makeInserter<BatchRecord>(sql, {
    name: "batches",
    columns: ["batch_id", "run_id", "node_id", "created_at", "chain_seq", "chain_ord"],
    values: (b, p, seq, ord) => void p.push(b.batchId, b.runId, b.nodeId, b.createdAt, seq, ord)
  }),
  members: makeInserter<BatchMemberRecord>(sql, {
    name: "batch_members",
    columns: ["batch_id", "token_id", "ordinal", "run_id", "chain_seq", "chain_ord"],
    values: (m, p, seq, ord) => void p.push(m.batchId, m.tokenId, m.ordinal, m.runId, seq, ord)
  }),
  calls: makeInserter<CallInsert>(sql, {
    name: "calls",
    columns: [
      "call_id", "run_id", "node_id", "state_id", "operation_id", "call_type", "status", "request_json", "request_hash",
      "response_json", "response_hash", "attributes_json", "error", "latency_ms", "created_at", "chain_seq", "chain_ord"
    ],
    values: (c, p, seq, ord) =>
      void p.push(
        c.callId, c.runId, c.nodeId, c.stateId ?? null, c.operationId ?? null, c.callType, c.status, c.requestJson, c.requestHash ?? null,
        c.responseJson, c.responseHash ?? null, json(c.attributes), c.error ?? null, c.latencyMs, c.createdAt, seq, ord
      )
  })
})

/**
 * A transaction the database refused and rolled back whole, so running it again cannot record
 * anything twice:
 * - SQLite `SQLITE_BUSY`: another connection held the write lock when it upgraded from reading to
 *   writing, a case in which SQLite returns at once instead of calling the busy handler
 *   (https://www.sqlite.org/rescode.html#busy). The WAL checkpointer's restart (`checkpointer.ts`)
 *   and a `sightline purge` from another process cause it.
 * - PostgreSQL `40001` serialization failure and `40P01` deadlock, which PostgreSQL's manual says to
 *   retry (https://www.postgresql.org/docs/15/mvcc-serialization-failure-handling.html).
 */
const isRetryable = (error: SqlError.SqlError | LandscapeError): boolean => {
  const cause: unknown = error._tag === "SqlError" ? error.cause : undefined
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return false
  const code = String(cause.code)
  return code.startsWith("SQLITE_BUSY") || code === "40001" || code === "40P01"
}

/**
 * `sql.withTransaction(effect)` with the write lock taken by its first statement.
 *
 * SQLite: @effect/sql's client begins transactions deferred (`BEGIN`), so a transaction that reads
 * first (the chain head) must upgrade its lock to write, and SQLite refuses that upgrade at once
 * with `SQLITE_BUSY` while another connection holds the write lock, without calling the busy
 * handler (measured with better-sqlite3: read-then-insert fails after 0 ms while another thread
 * holds `BEGIN IMMEDIATE` for 300 ms; with a no-op write first it waits 330 ms and commits). A
 * write as the first statement takes the lock as `BEGIN IMMEDIATE` would, through the busy handler
 * (the writer's 5 s timeout).
 *
 * PostgreSQL: with `runId`, the transaction first takes that run's chain lock, an advisory lock
 * held until it ends (`pg_advisory_xact_lock`, keyed by a 64-bit hash of the run id), so the
 * links of one run are appended one at a time by every connection of every process: each reads
 * the head the last one wrote. Without `runId` it takes none (row locks suffice).
 */
export const writeTransaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  effect: Effect.Effect<A, E, R>,
  runId?: string
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  sql.withTransaction(Effect.zipRight(
    sql.onDialectOrElse({
      sqlite: () => Effect.asVoid(sql.unsafe("UPDATE audit_chain SET seq = seq WHERE 0")),
      pg: () => runId === undefined ? Effect.void : Effect.asVoid(sql.unsafe("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [runId])),
      orElse: () => Effect.void
    }),
    effect
  ))

/**
 * Up to 12 retries, 1 ms doubling: about four seconds in all, under the writer's 5 s busy timeout.
 * With the lock taken first ({@link writeTransaction}) a busy writer is waited for, not retried;
 * this is for what the busy handler cannot wait out.
 */
const retryRefused = { while: isRetryable, schedule: Schedule.intersect(Schedule.exponential("1 millis"), Schedule.recurs(12)) }

/** Appending links to runs' chains on one client. */
export const makeChain = (sql: SqlClient.SqlClient) => {
  const dialect = dialectOf(sql)
  const head = placeholders(dialect, "SELECT seq, chain_hash FROM audit_chain WHERE run_id = ? ORDER BY seq DESC LIMIT 1")
  const insert = placeholders(dialect, "INSERT INTO audit_chain (run_id, seq, kind, records, batch_hash, chain_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
  /**
   * Writes one link of `runId`'s chain in one transaction: `write(seq, chainHash)` writes the
   * `records` records (whose facts are `facts`) as link `seq`, then the link is appended.
   */
  return (
    runId: string,
    kind: string,
    facts: Chain.BatchFacts,
    records: number,
    write: (seq: number, chainHash: string) => Write
  ): Write =>
    Effect.suspend(() => {
      const batchHash = Chain.batchHash(facts)
      return writeTransaction(sql, Effect.gen(function* () {
        const [last] = yield* sql.unsafe<{ readonly seq: number; readonly chain_hash: string }>(head, [runId])
        const seq = last === undefined ? 1 : Number(last.seq) + 1
        const chainHash = Chain.link(last?.chain_hash ?? Chain.genesis(runId), batchHash)
        yield* write(seq, chainHash)
        const now = yield* Clock.currentTimeMillis
        yield* sql.unsafe(insert, [runId, seq, kind, records, batchHash, chainHash, now])
      }), runId).pipe(Effect.retry(retryRefused))
    })
}

/** A node state a batch completes, as it was before. */
interface KnownState {
  readonly id: string
  readonly run_id: string
  readonly node_id: string
  readonly status: string
  readonly duration_ms: number | null
}

/**
 * The run of a batch (a batch is one run's) and the earlier records it completes. An update of a
 * state or token that was never recorded (the engine closes what a failed flush meant to write) is
 * dropped, as the bare `UPDATE` would have done: it would otherwise put a fact in the chain that no
 * record backs.
 */
const resolveBatch = (sql: SqlClient.SqlClient, batch: RecordBatch) =>
  Effect.gen(function* () {
    const ids = new Set<string>()
    for (const list of [batch.rows, batch.nodeStates, batch.runningStates, batch.routing, batch.calls, batch.batches ?? [], batch.batchMembers ?? []]) {
      for (const r of list) ids.add(r.runId)
    }
    if (ids.size > 1) return yield* landscapeError("recordBatch", `a batch holds the records of one run, this one of ${ids.size} (${[...ids].join(", ")})`)
    const newTokens = new Set(batch.rows.map((r) => r.tokenId))
    for (const t of batch.tokens ?? []) newTokens.add(t.tokenId)
    const laterOutcomes = batch.outcomes.filter((t) => !newTokens.has(t.tokenId))
    const knownStates = batch.stateUpdates.length === 0 ? [] : yield* sql<KnownState>`
      SELECT state_id AS id, run_id, node_id, status, duration_ms FROM node_states WHERE state_id IN ${sql.in(batch.stateUpdates.map((s) => s.stateId))}`
    const knownTokens = laterOutcomes.length === 0 ? [] : yield* sql<{ readonly id: string; readonly run_id: string; readonly outcome: string | null }>`
      SELECT token_id AS id, run_id, outcome FROM tokens WHERE token_id IN ${sql.in(laterOutcomes.map((t) => t.tokenId))}`
    for (const known of [...knownStates, ...knownTokens]) ids.add(known.run_id)
    if (ids.size > 1) return yield* landscapeError("recordBatch", `a batch completes records of other runs (${[...ids].join(", ")})`)
    const states = new Map(knownStates.map((k) => [k.id, k]))
    const tokens = new Map(knownTokens.map((k) => [k.id, k.outcome]))
    return {
      runId: ids.size === 0 ? undefined : [...ids][0]!,
      stateUpdates: batch.stateUpdates.flatMap((update) => {
        const before = states.get(update.stateId)
        return before === undefined ? [] : [{ update, before }]
      }),
      laterOutcomes: laterOutcomes.filter((t) => tokens.has(t.tokenId)),
      /** Tokens of `laterOutcomes` that had none yet (an outcome written again changes no statistic). */
      firstOutcomes: new Set(knownTokens.filter((k) => k.outcome === null).map((k) => k.id))
    }
  })

/** `outcomes` grouped by everything but the token, at most 500 tokens a group (well under SQLite's 32,766 bound parameters). */
const groupOutcomes = (outcomes: ReadonlyArray<TokenEnd>) => {
  const groups = new Map<string, { readonly outcome: string; readonly sinkNodeId: string | null; readonly completedAt: number; readonly tokenIds: Array<string> }>()
  const all: Array<{ readonly outcome: string; readonly sinkNodeId: string | null; readonly completedAt: number; readonly tokenIds: Array<string> }> = []
  for (const t of outcomes) {
    const key = `${t.outcome}\u0000${t.sinkNodeId}\u0000${t.completedAt}`
    let group = groups.get(key)
    if (group === undefined || group.tokenIds.length >= 500) {
      group = { outcome: t.outcome, sinkNodeId: t.sinkNodeId, completedAt: t.completedAt, tokenIds: [] }
      groups.set(key, group)
      all.push(group)
    }
    group.tokenIds.push(t.tokenId)
  }
  return all
}

/**
 * What a batch changes in its run's statistics (`stats.ts`): its new node states and tokens, the
 * states it closes (moved from their status before) and the outcomes it sets on earlier tokens
 * (moved from `none`); and the tokens it quarantines, whose reasons are read once written.
 */
const statsOf = (
  runId: string,
  batch: RecordBatch,
  newTokens: ReadonlyArray<{ readonly row: RowRecord; readonly end: TokenEnd | undefined }>,
  childTokens: ReadonlyArray<{ readonly token: TokenRecord; readonly end: TokenEnd | undefined }>,
  resolved: { readonly stateUpdates: ReadonlyArray<{ readonly update: NodeStateEnd; readonly before: KnownState }>; readonly laterOutcomes: ReadonlyArray<TokenEnd>; readonly firstOutcomes: ReadonlySet<string> }
) => {
  const delta = new RunStats(runId)
  const quarantinedTokens: Array<string> = []
  const outcome = (tokenId: string, end: TokenEnd | undefined) => {
    delta.outcome(end?.outcome ?? null, end?.sinkNodeId ?? null)
    if (end?.outcome === "quarantined") quarantinedTokens.push(tokenId)
  }
  for (const { end, row } of newTokens) outcome(row.tokenId, end)
  for (const { end, token } of childTokens) outcome(token.tokenId, end)
  for (const s of batch.nodeStates) delta.state(s.nodeId, s.status, s.durationMs)
  for (const s of batch.runningStates) delta.state(s.nodeId, "running", null)
  for (const { before, update } of resolved.stateUpdates) {
    delta.state(before.node_id, before.status, numOrNull(before.duration_ms), -1)
    delta.state(before.node_id, update.status, update.durationMs)
  }
  for (const t of resolved.laterOutcomes) {
    if (!resolved.firstOutcomes.has(t.tokenId)) continue
    delta.outcome(null, null, -1)
    outcome(t.tokenId, t)
  }
  for (const c of batch.calls) delta.call(c.nodeId, c.callType, c.status, c.latencyMs, c.attributes)
  return { delta, quarantinedTokens }
}

/** `recordBatch` over one client. */
export const makeRecordBatch = (sql: SqlClient.SqlClient) => {
  const write = makeInserters(sql)
  const append = makeChain(sql)
  const writeStats = makeStatsWriter(sql)
  /** The checkpoint statement of the batch's transaction: a run's or a partition's (both fenced). */
  const writeCheckpointOf = (checkpoint: RunCheckpoint | PartitionCheckpoint, now: number) =>
    "_tag" in checkpoint ? writeRunCheckpoint(sql, checkpoint, now) : writeCheckpoint(sql, checkpoint, now)
  return (batch: RecordBatch, checkpoint?: RunCheckpoint | PartitionCheckpoint): Write =>
    Effect.flatMap(resolveBatch(sql, batch), (resolved) => Effect.suspend(() => {
      const ends = new Map(batch.outcomes.map((end) => [end.tokenId, end]))
      const newTokens = batch.rows.map((row) => ({ row, end: ends.get(row.tokenId) }))
      const childTokens = (batch.tokens ?? []).map((token) => ({ token, end: ends.get(token.tokenId) }))
      const parents: Array<ParentInsert> = []
      for (const { token: t } of childTokens) {
        for (const p of t.parents) parents.push({ tokenId: t.tokenId, parentTokenId: p.tokenId, ordinal: p.ordinal, runId: t.runId })
      }
      const states: Array<{ readonly state: StateInsert; readonly errorJson: string | null }> = []
      for (const list of [batch.nodeStates, batch.runningStates] as ReadonlyArray<ReadonlyArray<StateInsert>>) {
        for (const state of list) states.push({ state, errorJson: jsonOrNull(state.error) })
      }
      const updates = resolved.stateUpdates.map(({ update: s }) => ({ s, errorJson: jsonOrNull(s.error) }))
      const calls = batch.calls.map(prepareCall)
      // Outcomes of tokens recorded by an earlier batch (a row flushed early by an external call).
      const laterOutcomes = resolved.laterOutcomes
      const batches = batch.batches ?? []
      const members = batch.batchMembers ?? []
      const batchEnds = batch.batchEnds ?? []
      const facts: Chain.BatchFacts = {
        row: writeFacts.rows(newTokens),
        token: childTokens.length === 0 ? writeFacts.tokens(newTokens) : [...writeFacts.tokens(newTokens), ...writeFacts.childTokens(childTokens)],
        token_parent: writeFacts.parents(parents),
        state: writeFacts.states(states),
        routing: writeFacts.routing(batch.routing),
        call: writeFacts.calls(calls),
        batch: writeFacts.batches(batches),
        batch_member: writeFacts.members(members),
        batch_end: batchEnds.map((b) => Chain.facts.batchEnd(b)),
        state_end: updates.map(({ errorJson, s }) =>
          Chain.facts.stateEnd({ stateId: s.stateId, status: s.status, outputHash: s.outputHash ?? null, errorJson, completedAt: s.completedAt, durationMs: s.durationMs })),
        token_end: laterOutcomes.map((t) => Chain.facts.tokenEnd(t))
      }
      const records = newTokens.length * 2 + childTokens.length + parents.length + states.length + updates.length + batch.routing.length + calls.length +
        laterOutcomes.length + batches.length + members.length + batchEnds.length
      if (resolved.runId === undefined) {
        return checkpoint === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => writeTransaction(sql, writeCheckpointOf(checkpoint, now)))
      }
      const runId = resolved.runId
      const stats = statsOf(runId, batch, newTokens, childTokens, resolved)
      return Effect.zipRight(yieldIfBusy(), append(runId, "batch", facts, records, (seq) =>
          Effect.all([
            // The fence first: a worker whose lease was taken over is refused as such, before its
            // rows could collide with the ones the new holder recorded (and on PostgreSQL the
            // partition's row stays locked until commit, so no claim can take it mid-batch).
            checkpoint === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => writeCheckpointOf(checkpoint, now)),
            write.rows(batch.rows, seq),
            write.tokens(newTokens, seq),
            write.childTokens(childTokens, seq, newTokens.length),
            write.parents(parents, seq),
            write.states(states, seq),
            Effect.forEach(updates, ({ errorJson, s }) =>
              sql`UPDATE node_states SET ${
                sql.update({
                  status: s.status,
                  output_hash: s.outputHash ?? null,
                  error_json: errorJson,
                  completed_at: s.completedAt,
                  duration_ms: s.durationMs,
                  end_seq: seq
                })
              } WHERE state_id = ${s.stateId} AND run_id = ${runId}`, { discard: true }),
            write.routing(batch.routing, seq),
            write.calls(calls, seq),
            write.batches(batches, seq),
            write.members(members, seq),
            Effect.forEach(batchEnds, (b) =>
              sql`UPDATE batches SET ${
                sql.update({ status: b.status, trigger_reason: b.trigger, state_id: b.stateId, flushed_at: b.flushedAt, end_seq: seq })
              } WHERE batch_id = ${b.batchId} AND run_id = ${runId}`, { discard: true }),
            // Outcomes that are the same but for the token (a batch's members) in one statement each 500.
            Effect.forEach(groupOutcomes(laterOutcomes), (g) =>
              sql`UPDATE tokens SET ${
                sql.update({ outcome: g.outcome, sink_node_id: g.sinkNodeId, completed_at: g.completedAt, outcome_seq: seq })
              } WHERE token_id IN ${sql.in(g.tokenIds)} AND run_id = ${runId}`, { discard: true }),
            // The run's statistics, last: a quarantined token's reason is its failed state, recorded by now.
            writeStats(stats.delta),
            Effect.flatMap(quarantineFacts(sql, { tokenIds: stats.quarantinedTokens }), (facts) => {
              const reasons = new RunStats(runId)
              reasons.quarantined(facts)
              return writeStats(reasons)
            })
          ], { discard: true })))
    }))
}

/** The owner recorded with a run: this process. */
export const owner = { host: hostname(), pid: process.pid }

/** The canonical JSON and hash of a run's configuration. */
export const configOf = (config: unknown) => ({ json: json(config), hash: hashCanonical(config) })

export { canonicalVersion, json, jsonOrNull }
