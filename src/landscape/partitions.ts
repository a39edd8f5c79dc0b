/**
 * The partitions of distributed runs (`run_partitions`, migration 0006): leases with heartbeats and
 * fencing, and checkpoints, in plain SQL on both dialects.
 *
 * - **Claim.** A worker takes the first partition that is `pending` or whose lease has expired, in
 *   one transaction: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (so claims by several workers
 *   never wait on each other), SQLite's write lock there. The claim sets `owner`, extends the lease
 *   and increments `attempt`.
 * - **Fencing.** Every later write of the lease (`renew`, a checkpoint, `release`, `complete`,
 *   `fail`) is `… WHERE owner = ? AND attempt = ?`: once another worker has claimed the partition,
 *   a worker that was merely slow (a long GC pause, a stopped process) is refused with
 *   `LandscapeError` (`partitionLease`) and its batch is rolled back with the checkpoint it carried.
 *   Correctness does not depend on the workers' clocks: a clock that runs ahead only makes a
 *   takeover early, and the fenced-out worker then stops.
 * - **Completion.** `complete` holds the run's chain lock (`writeTransaction`), so of two workers
 *   completing the last two partitions exactly one sees none left.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { num, numOrNull } from "./decode.js"
import { dialectOf, placeholders } from "./dialect.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { PartitionCheckpoint, PartitionedRun, PartitionLease, PartitionLeftovers, PartitionStatus } from "./records.js"
import { json, writeTransaction } from "./write.js"

type Write<A> = Effect.Effect<A, SqlError.SqlError | LandscapeError>

interface PartitionDbRow {
  readonly run_id: string
  readonly partition_index: number
  readonly partition_count: number
  readonly status: PartitionStatus["status"]
  readonly owner: string | null
  readonly attempt: number
  readonly lease_expires_at: number | null
  readonly position: number
  readonly rows_read: number
  readonly rows_quarantined: number
  readonly rows_per_sink_json: string
  readonly state_json: string | null
  readonly traceparent: string | null
  readonly updated_at: number
  readonly completed_at: number | null
}

const statusOf = (r: PartitionDbRow): PartitionStatus => ({
  runId: r.run_id,
  index: num(r.partition_index),
  count: num(r.partition_count),
  status: r.status,
  owner: r.owner,
  attempt: num(r.attempt),
  leaseExpiresAt: numOrNull(r.lease_expires_at),
  position: num(r.position),
  rowsRead: num(r.rows_read),
  rowsQuarantined: num(r.rows_quarantined),
  rowsPerSink: JSON.parse(r.rows_per_sink_json) as Record<string, number>,
  updatedAt: num(r.updated_at),
  completedAt: numOrNull(r.completed_at)
})

/** Every partition of `runId`, by index (none for a run that is not distributed). */
export const listPartitions = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyArray<PartitionStatus>, SqlError.SqlError> =>
  Effect.map(sql<PartitionDbRow>`SELECT * FROM run_partitions WHERE run_id = ${runId} ORDER BY partition_index`, (rows) => rows.map(statusOf))

/** What a worker says of the lease it holds, for the fenced writes. */
export interface LeaseRef {
  readonly runId: string
  readonly index: number
  readonly owner: string
  readonly attempt: number
}

const lost = (lease: LeaseRef, what: string) =>
  landscapeError(
    "partitionLease",
    `partition ${lease.index} of run ${lease.runId} is no longer leased to ${lease.owner} (attempt ${lease.attempt}): another worker took it over; ${what} refused`
  )

/**
 * The checkpoint statement, for the caller's transaction: fails (rolling the transaction back)
 * when the lease is no longer the caller's.
 */
export const writeCheckpoint = (sql: SqlClient.SqlClient, cp: PartitionCheckpoint, now: number): Write<void> =>
  Effect.flatMap(
    sql<{ readonly partition_index: number }>`UPDATE run_partitions SET ${
      sql.update({
        position: cp.position,
        rows_read: cp.rowsRead,
        rows_quarantined: cp.rowsQuarantined,
        rows_per_sink_json: json(cp.rowsPerSink),
        state_json: json(cp.state),
        lease_expires_at: cp.leaseExpiresAt,
        updated_at: now
      })
    } WHERE run_id = ${cp.runId} AND partition_index = ${cp.index} AND owner = ${cp.owner} AND attempt = ${cp.attempt} AND status = 'running'
    RETURNING partition_index`,
    (updated) => (updated.length === 1 ? Effect.void : Effect.fail(lost(cp, "the checkpoint at source index " + cp.position + " was")))
  )

export const makePartitions = (sql: SqlClient.SqlClient) => {
  const dialect = dialectOf(sql)
  const claimable = placeholders(
    dialect,
    `SELECT * FROM run_partitions WHERE run_id = ? AND (status = 'pending' OR (status = 'running' AND lease_expires_at < ?))
     ORDER BY partition_index LIMIT 1${dialect === "pg" ? " FOR UPDATE SKIP LOCKED" : ""}`
  )
  const fenced = (lease: LeaseRef, what: string, set: Record<string, unknown>): Write<void> =>
    Effect.flatMap(
      sql<{ readonly partition_index: number }>`UPDATE run_partitions SET ${sql.update(set)}
        WHERE run_id = ${lease.runId} AND partition_index = ${lease.index} AND owner = ${lease.owner} AND attempt = ${lease.attempt} AND status = 'running'
        RETURNING partition_index`,
      (updated) => (updated.length === 1 ? Effect.void : Effect.fail(lost(lease, what)))
    )

  return {
    /** Records `count` pending partitions of `runId`. */
    create: (runId: string, count: number, traceparent: string | null, now: number): Write<void> =>
      writeTransaction(sql, Effect.asVoid(sql`INSERT INTO run_partitions ${
        sql.insert(Array.from({ length: count }, (_, index) => ({
          run_id: runId,
          partition_index: index,
          partition_count: count,
          status: "pending",
          traceparent,
          updated_at: now
        })))
      }`)),

    /** Claims the first claimable partition for `owner` until `now + leaseMs`; `None` when there is none. */
    claim: (runId: string, owner: string, leaseMs: number, now: number): Write<Option.Option<PartitionLease>> =>
      writeTransaction(sql, Effect.gen(function* () {
        const [row] = yield* sql.unsafe<PartitionDbRow>(claimable, [runId, now])
        if (row === undefined) return Option.none()
        const attempt = num(row.attempt) + 1
        const leaseExpiresAt = now + leaseMs
        yield* sql`UPDATE run_partitions SET ${
          sql.update({ status: "running", owner, attempt, lease_expires_at: leaseExpiresAt, updated_at: now })
        } WHERE run_id = ${runId} AND partition_index = ${row.partition_index}`
        const before = statusOf(row)
        return Option.some({
          ...before,
          status: "running",
          owner,
          attempt,
          leaseExpiresAt,
          updatedAt: now,
          state: row.state_json === null ? null : JSON.parse(row.state_json) as unknown,
          previousOwner: row.status === "running" ? row.owner : null,
          traceparent: row.traceparent
        } satisfies PartitionLease)
      })),

    /** Extends the lease to `leaseExpiresAt`; refused when it was taken over. */
    renew: (lease: LeaseRef, leaseExpiresAt: number, now: number): Write<void> =>
      fenced(lease, "renewing the lease was", { lease_expires_at: leaseExpiresAt, updated_at: now }),

    /** The checkpoint alone (no batch), e.g. right after a claim; refused when the lease was taken over. */
    checkpoint: (cp: PartitionCheckpoint, now: number): Write<void> => writeTransaction(sql, writeCheckpoint(sql, cp, now)),

    /** Gives the partition back (`pending`, its checkpoint kept) for another worker to continue at once. */
    release: (lease: LeaseRef, now: number): Write<void> =>
      writeTransaction(sql, fenced(lease, "releasing it was", { status: "pending", lease_expires_at: null, updated_at: now })),

    /** Marks the partition `failed`: the run fails with it. */
    fail: (lease: LeaseRef, now: number): Write<void> =>
      writeTransaction(sql, fenced(lease, "failing it was", { status: "failed", lease_expires_at: null, updated_at: now })),

    /**
     * Completes the partition with its final checkpoint; returns the partitions of the run not yet
     * completed. Holds the run's lock, so exactly one worker sees the last one done.
     */
    complete: (cp: PartitionCheckpoint, now: number): Write<number> =>
      writeTransaction(sql, Effect.gen(function* () {
        yield* writeCheckpoint(sql, cp, now)
        yield* fenced(cp, "completing it was", { status: "completed", lease_expires_at: null, completed_at: now })
        const [left] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM run_partitions WHERE run_id = ${cp.runId} AND status <> 'completed'`
        return num(left?.n ?? 0)
      }), cp.runId),

    /** What a worker joining `runId` needs: its status, configuration hash, start and node ids; `None` when it is not recorded. */
    join: (runId: string): Write<Option.Option<PartitionedRun>> =>
      Effect.gen(function* () {
        const [run] = yield* sql<{ readonly status: PartitionedRun["status"]; readonly config_hash: string; readonly started_at: number; readonly pipeline: string }>`
          SELECT status, config_hash, started_at, pipeline FROM runs WHERE run_id = ${runId}`
        if (run === undefined) return Option.none()
        const nodes = yield* sql<{ readonly node_id: string; readonly name: string }>`SELECT node_id, name FROM nodes WHERE run_id = ${runId}`
        const [first] = yield* sql<{ readonly partition_count: number; readonly traceparent: string | null }>`
          SELECT partition_count, traceparent FROM run_partitions WHERE run_id = ${runId} AND partition_index = 0`
        return Option.some({
          partitions: first === undefined ? 0 : num(first.partition_count),
          traceparent: first?.traceparent ?? null,
          runId,
          pipeline: run.pipeline,
          status: run.status,
          configHash: run.config_hash,
          startedAt: num(run.started_at),
          nodeIds: Object.fromEntries(nodes.map((n) => [n.name, n.node_id]))
        })
      }),

    /** Every partition of `runId`, by index (none for a run that is not distributed). */
    list: (runId: string): Write<ReadonlyArray<PartitionStatus>> => listPartitions(sql, runId),

    /** What earlier attempts on `lease`'s partition left open (see `PartitionLeftovers`). */
    leftovers: (lease: PartitionLease, operationIds: ReadonlyArray<string>): Write<PartitionLeftovers> =>
      Effect.gen(function* () {
        const operations = operationIds.length === 0 ? [] : yield* sql<{ readonly operation_id: string; readonly started_at: number; readonly details_json: string }>`
          SELECT operation_id, started_at, details_json FROM operations WHERE operation_id IN ${sql.in(operationIds)} AND status = 'running'`
        const rows = yield* sql<{ readonly row_index: number; readonly token_id: string }>`
          SELECT r.row_index, t.token_id FROM rows r JOIN tokens t ON t.row_id = r.row_id
          WHERE r.run_id = ${lease.runId} AND r.row_index >= ${lease.position} AND t.outcome IS NULL
            AND r.row_index % ${lease.count} = ${lease.index}`
        const states = rows.length === 0 ? [] : yield* sql<{ readonly state_id: string; readonly started_at: number }>`
          SELECT state_id, started_at FROM node_states WHERE token_id IN ${sql.in(rows.map((r) => r.token_id))} AND status = 'running'`
        return {
          operations: operations.map((o) => ({ operationId: o.operation_id, startedAt: num(o.started_at), details: JSON.parse(o.details_json) as unknown })),
          rows: rows.map((r) => ({ rowIndex: num(r.row_index), tokenId: r.token_id })),
          runningStates: states.map((s) => ({ stateId: s.state_id, startedAt: num(s.started_at) }))
        }
      })
  }
}

export type Partitions = ReturnType<typeof makePartitions>
