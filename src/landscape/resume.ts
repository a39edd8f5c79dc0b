/**
 * Checkpoints and resume of single-process runs (`run_checkpoints`, `run_resumes`, migration 0007),
 * in plain SQL on both dialects.
 *
 * - **Checkpoints.** A run's first checkpoint is inserted once its sinks are open (attempt 1);
 *   every later one is an update fenced by `attempt` (`… WHERE run_id = ? AND attempt = ?`), in
 *   the transaction of the batch it follows: the batch of an attempt that another process has
 *   resumed since is refused and rolled back with it (`LandscapeError`, `runCheckpoint`).
 * - **Resume.** One link of the run's chain, in one transaction: the run goes back to `running`
 *   (owned by this process), the checkpoint's `attempt` grows by one (fenced by the attempt the
 *   caller read, so of two processes resuming one run one succeeds), and what the stopped attempt
 *   left open is closed `failed`: node states and operations still `running` (a run that failed
 *   on a Landscape error may leave some), and the tokens of rows recorded early by an external
 *   call that no batch committed. Those rows are not processed again: their call is not made twice.
 *   Likewise an aggregation's batch whose flush had begun (its node state recorded, perhaps with
 *   calls) is closed `failed` with its members; the members of the other open batches stay
 *   buffered, and the engine restores those batches from the checkpoint.
 *   How the run had ended is kept in `run_resumes`, since the next end replaces it in `runs`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import * as Chain from "./chain.js"
import { num, numOrNull, type RunDbRow, toRunRow } from "./decode.js"
import { landscapeError, type LandscapeError } from "./error.js"
import type { ResumedRun, ResumePoint, RunCheckpoint } from "./records.js"
import { makeStatsWriter, RunStats } from "./stats.js"
import { json, makeChain, owner, writeTransaction } from "./write.js"

type Write<A> = Effect.Effect<A, SqlError.SqlError | LandscapeError>

interface CheckpointDbRow {
  readonly run_id: string
  readonly attempt: number
  readonly position: number
  readonly rows_read: number
  readonly rows_quarantined: number
  readonly rows_failed: number
  readonly rows_per_sink_json: string
  readonly state_json: string
}

const checkpointOf = (r: CheckpointDbRow): RunCheckpoint => ({
  _tag: "RunCheckpoint",
  runId: r.run_id,
  attempt: num(r.attempt),
  position: num(r.position),
  rowsRead: num(r.rows_read),
  rowsQuarantined: num(r.rows_quarantined),
  rowsFailed: num(r.rows_failed),
  rowsPerSink: JSON.parse(r.rows_per_sink_json) as Record<string, number>,
  state: JSON.parse(r.state_json) as unknown
})

const columnsOf = (cp: RunCheckpoint, now: number) => ({
  position: cp.position,
  rows_read: cp.rowsRead,
  rows_quarantined: cp.rowsQuarantined,
  rows_failed: cp.rowsFailed,
  rows_per_sink_json: json(cp.rowsPerSink),
  state_json: json(cp.state),
  updated_at: now
})

/**
 * The fenced checkpoint statement, for the caller's transaction: fails (rolling the transaction
 * back) when the run's checkpoint is no longer at `cp.attempt`.
 */
export const writeRunCheckpoint = (sql: SqlClient.SqlClient, cp: RunCheckpoint, now: number): Write<void> =>
  Effect.flatMap(
    sql<{ readonly run_id: string }>`UPDATE run_checkpoints SET ${sql.update(columnsOf(cp, now))}
      WHERE run_id = ${cp.runId} AND attempt = ${cp.attempt} RETURNING run_id`,
    (updated) =>
      updated.length === 1 ? Effect.void : Effect.fail(landscapeError(
        "runCheckpoint",
        `run ${cp.runId} is no longer at attempt ${cp.attempt}: another process resumed it; the checkpoint at source index ${cp.position} was refused`
      ))
  )

/** Why a run in this state cannot be resumed. */
const refusal = (runId: string, run: RunDbRow | undefined, checkpoint: CheckpointDbRow | undefined, attempt: number): string | undefined => {
  if (run === undefined) return `run ${runId} is not recorded`
  if (run.status === "completed") return `run ${runId} has completed: there is nothing to resume`
  if (run.status === "running") {
    return `run ${runId} is running (owned by process ${run.owner_pid ?? "?"} on ${run.owner_host ?? "?"}); ` +
      "a run whose process died is marked interrupted when its Landscape is next opened (see staleRunAfter)"
  }
  if (checkpoint === undefined) return `run ${runId} has no checkpoint (recorded before schema 0007, or a distributed run: see DistributedRun.work)`
  if (num(checkpoint.attempt) !== attempt) return `run ${runId} is at attempt ${num(checkpoint.attempt)}, not ${attempt}: another process resumed it`
  return undefined
}

export const makeRunCheckpoints = (sql: SqlClient.SqlClient) => {
  const append = makeChain(sql)
  const writeStats = makeStatsWriter(sql)
  return {
    /** The run's first checkpoint (attempt 1), once its sinks are open. */
    begin: (cp: RunCheckpoint, now: number): Write<void> =>
      writeTransaction(sql, Effect.asVoid(sql`INSERT INTO run_checkpoints ${sql.insert({ run_id: cp.runId, attempt: cp.attempt, ...columnsOf(cp, now) })}`)),

    /** A checkpoint alone (no batch), fenced by its attempt. */
    write: (cp: RunCheckpoint, now: number): Write<void> => writeTransaction(sql, writeRunCheckpoint(sql, cp, now)),

    read: (runId: string): Write<Option.Option<ResumePoint>> =>
      Effect.gen(function* () {
        const [run] = yield* sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`
        if (run === undefined) return Option.none()
        const nodes = yield* sql<{ readonly node_id: string; readonly name: string }>`SELECT node_id, name FROM nodes WHERE run_id = ${runId}`
        const [checkpoint] = yield* sql<CheckpointDbRow>`SELECT * FROM run_checkpoints WHERE run_id = ${runId}`
        return Option.some({
          run: toRunRow(run),
          config: JSON.parse(run.config_json) as unknown,
          nodeIds: Object.fromEntries(nodes.map((n) => [n.name, n.node_id])),
          checkpoint: checkpoint === undefined ? undefined : checkpointOf(checkpoint)
        })
      }),

    /** Reopens an interrupted or failed run at `attempt + 1` (see the module's description). */
    resume: (request: { readonly runId: string; readonly attempt: number; readonly resumedAt: number }): Write<ResumedRun> =>
      Effect.gen(function* () {
        const { attempt, resumedAt, runId } = request
        const [run] = yield* sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`
        const [checkpoint] = yield* sql<CheckpointDbRow>`SELECT * FROM run_checkpoints WHERE run_id = ${runId}`
        const refused = refusal(runId, run, checkpoint, attempt)
        if (refused !== undefined || run === undefined || checkpoint === undefined) return yield* landscapeError("resumeRun", refused ?? `run ${runId} cannot be resumed`)

        const states = yield* sql<{ readonly state_id: string; readonly node_id: string; readonly output_hash: string | null; readonly started_at: number; readonly duration_ms: number | null }>`
          SELECT state_id, node_id, output_hash, started_at, duration_ms FROM node_states WHERE run_id = ${runId} AND status = 'running'`
        const operations = yield* sql<{ readonly operation_id: string; readonly details_json: string; readonly started_at: number }>`
          SELECT operation_id, details_json, started_at FROM operations WHERE run_id = ${runId} AND status = 'running'`
        // Open batches whose flush had begun: the flush's node state is on the batch's first member.
        const begun = yield* sql<{ readonly batch_id: string; readonly state_id: string }>`
          SELECT b.batch_id, min(s.state_id) AS state_id FROM batches b
          JOIN batch_members m ON m.batch_id = b.batch_id AND m.ordinal = 0
          JOIN node_states s ON s.token_id = m.token_id AND s.node_id = b.node_id
          WHERE b.run_id = ${runId} AND b.status = 'open' GROUP BY b.batch_id`
        const closing = new Set(begun.map((b) => b.batch_id))
        // Tokens without an outcome, but for the members of a batch still open (buffered: they wait for its flush).
        const waiting = yield* sql<{ readonly token_id: string; readonly batch_id: string }>`
          SELECT m.token_id, m.batch_id FROM batch_members m JOIN batches b ON b.batch_id = m.batch_id WHERE b.run_id = ${runId} AND b.status = 'open'`
        const buffered = new Set(waiting.filter((w) => !closing.has(w.batch_id)).map((w) => w.token_id))
        const tokens = (yield* sql<{ readonly token_id: string; readonly row_index: number }>`
          SELECT t.token_id, r.row_index FROM rows r JOIN tokens t ON t.row_id = r.row_id WHERE r.run_id = ${runId} AND t.outcome IS NULL`)
          .filter((t) => !buffered.has(t.token_id))
        const closedMembers = new Set(waiting.filter((w) => closing.has(w.batch_id)).map((w) => w.token_id))

        const next = attempt + 1
        const position = num(checkpoint.position)
        const stopped = `the run stopped (${run.status}${run.error === null ? "" : `: ${run.error}`}) before this ended; resumed as attempt ${next} from source index ${position}`
        const errorJson = JSON.stringify({ kind: "resumed", message: stopped })
        const previous = {
          previousStatus: run.status,
          previousFinishedAt: numOrNull(run.finished_at),
          previousDurationMs: numOrNull(run.duration_ms),
          previousRowsRead: numOrNull(run.rows_read),
          previousRowsQuarantined: numOrNull(run.rows_quarantined),
          previousError: run.error,
          previousEndSeq: numOrNull(run.end_seq)
        }
        const facts: Chain.BatchFacts = {
          state_end: states.map((s) =>
            Chain.facts.stateEnd({ stateId: s.state_id, status: "failed", outputHash: s.output_hash, errorJson, completedAt: resumedAt, durationMs: resumedAt - num(s.started_at) })),
          token_end: tokens.map((t) => Chain.facts.tokenEnd({ tokenId: t.token_id, outcome: "failed", sinkNodeId: null, completedAt: resumedAt })),
          operation_end: operations.map((o) =>
            Chain.facts.operationEnd({ operationId: o.operation_id, status: "failed", detailsJson: o.details_json, error: stopped, completedAt: resumedAt, durationMs: resumedAt - num(o.started_at) })),
          batch_end: begun.map((b) => Chain.facts.batchEnd({ batchId: b.batch_id, status: "failed", trigger: null, stateId: b.state_id, flushedAt: resumedAt })),
          run_resume: [Chain.facts.runResume({ runId, attempt: next, position, resumedAt, ...previous })]
        }
        const records = states.length + tokens.length + operations.length + begun.length + 1
        // A closed batch's members were read (committed) before: they count as failed, not as read again.
        const reread = tokens.filter((t) => !closedMembers.has(t.token_id)).length
        const fence = (rows: ReadonlyArray<unknown>, what: string) =>
          rows.length === 1 ? Effect.void : Effect.fail(landscapeError("resumeRun", `run ${runId} changed while it was being resumed (${what}): another process resumed or ended it`))
        // The run's statistics: the states closed move from `running` to `failed`, the tokens from no outcome to `failed`.
        const stats = new RunStats(runId)
        for (const s of states) {
          stats.state(s.node_id, "running", numOrNull(s.duration_ms), -1)
          stats.state(s.node_id, "failed", resumedAt - num(s.started_at))
        }
        if (tokens.length > 0) {
          stats.outcome(null, null, -tokens.length)
          stats.outcome("failed", null, tokens.length)
        }
        yield* append(runId, "resume", facts, records, (seq) =>
          Effect.gen(function* () {
            yield* writeStats(stats)
            yield* Effect.flatMap(sql`UPDATE run_checkpoints SET ${
              sql.update({ attempt: next, updated_at: resumedAt })
            }, rows_read = rows_read + ${reread}, rows_failed = rows_failed + ${tokens.length}
              WHERE run_id = ${runId} AND attempt = ${attempt} RETURNING run_id`, (rows) => fence(rows, "its checkpoint"))
            yield* Effect.flatMap(sql`UPDATE runs SET ${
              sql.update({ status: "running", owner_host: owner.host, owner_pid: owner.pid, heartbeat_at: resumedAt })
            }, finished_at = NULL, error = NULL, end_seq = NULL, chain_hash = NULL
              WHERE run_id = ${runId} AND status = ${run.status} RETURNING run_id`, (rows) => fence(rows, "its status"))
            yield* sql`INSERT INTO run_resumes ${
              sql.insert({
                run_id: runId,
                attempt: next,
                position,
                resumed_at: resumedAt,
                previous_status: previous.previousStatus,
                previous_finished_at: previous.previousFinishedAt,
                previous_duration_ms: previous.previousDurationMs,
                previous_rows_read: previous.previousRowsRead,
                previous_rows_quarantined: previous.previousRowsQuarantined,
                previous_error: previous.previousError,
                previous_end_seq: previous.previousEndSeq,
                previous_owner_host: run.owner_host,
                previous_owner_pid: numOrNull(run.owner_pid),
                chain_seq: seq
              })
            }`
            if (states.length > 0) {
              yield* sql`UPDATE node_states SET ${
                sql.update({ status: "failed", error_json: errorJson, completed_at: resumedAt, end_seq: seq })
              }, duration_ms = ${resumedAt} - started_at WHERE state_id IN ${sql.in(states.map((s) => s.state_id))}`
            }
            if (operations.length > 0) {
              yield* sql`UPDATE operations SET ${
                sql.update({ status: "failed", error: stopped, completed_at: resumedAt, end_seq: seq })
              }, duration_ms = ${resumedAt} - started_at WHERE operation_id IN ${sql.in(operations.map((o) => o.operation_id))}`
            }
            for (const b of begun) {
              yield* sql`UPDATE batches SET ${
                sql.update({ status: "failed", trigger_reason: null, state_id: b.state_id, flushed_at: resumedAt, end_seq: seq })
              } WHERE batch_id = ${b.batch_id}`
            }
            if (tokens.length > 0) {
              yield* sql`UPDATE tokens SET ${
                sql.update({ outcome: "failed", sink_node_id: null, completed_at: resumedAt, outcome_seq: seq })
              } WHERE token_id IN ${sql.in(tokens.map((t) => t.token_id))}`
            }
          }))
        const cp = checkpointOf(checkpoint)
        return {
          checkpoint: { ...cp, attempt: next, rowsRead: cp.rowsRead + reread, rowsFailed: cp.rowsFailed + tokens.length },
          skipped: tokens.filter((t) => !closedMembers.has(t.token_id)).map((t) => num(t.row_index)).filter((i) => i >= position).sort((a, b) => a - b),
          closedBatches: [...closing],
          previous: { status: run.status, error: run.error, durationMs: previous.previousDurationMs }
        } satisfies ResumedRun
      })
  }
}

export type RunCheckpoints = ReturnType<typeof makeRunCheckpoints>
