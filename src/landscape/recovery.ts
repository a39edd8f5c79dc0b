/**
 * Finding runs whose process died (`kill -9`, power loss, a crash): DESIGN.md invariant 9 says a run
 * never stays `running` once its process is gone. When a Landscape is opened, every `running` run
 * is checked against its owner and heartbeat:
 *
 * - owned by a process of this host that no longer exists (`kill(pid, 0)` answers `ESRCH`): gone;
 * - heartbeat older than `staleAfterMs` (another host, or a pid reused by another program): gone;
 * - otherwise alive (another process of this host, or this very process): left alone.
 *
 * A gone run is marked `interrupted` with the reason, and its open operations and node states are
 * closed as `failed` with the same reason, in one transaction: one link of the run's hash chain.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Clock, Effect } from "effect"
import { hostname } from "node:os"
import * as Chain from "./chain.js"
import { num, numOrNull, type RunDbRow } from "./decode.js"
import type { LandscapeError } from "./error.js"
import { makeStatsWriter, RunStats } from "./stats.js"
import { makeChain, writeTransaction } from "./write.js"

interface RunningRow {
  readonly run_id: string
  readonly owner_host: string | null
  readonly owner_pid: number | null
  readonly heartbeat_at: number | null
  readonly started_at: number
}

/** `true` when a process with this pid exists on this host (EPERM: it exists but is not ours). */
const processExists = (pid: number): boolean => {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Why the run is taken for dead, or `undefined` when it may still be alive. */
const deathOf = (run: RunningRow, now: number, staleAfterMs: number, host: string): string | undefined => {
  if (run.owner_host === host && run.owner_pid !== null && !processExists(Number(run.owner_pid))) {
    return `process ${run.owner_pid} on ${host} that ran it is gone`
  }
  const lastSign = Number(run.heartbeat_at ?? run.started_at)
  if (now - lastSign > staleAfterMs) {
    const owner = run.owner_host === null ? "its process" : `process ${run.owner_pid} on ${run.owner_host}`
    return `no heartbeat from ${owner} since ${new Date(lastSign).toISOString()} (stale after ${staleAfterMs} ms)`
  }
  return undefined
}

/**
 * Marks one run `interrupted` with `reason`, closing its open node states and operations `failed`,
 * in one transaction that is one link of the run's hash chain (a run recorded before the chain
 * existed gets plain updates).
 */
const interrupt = (sql: SqlClient.SqlClient, runId: string, reason: string, now: number) =>
  Effect.gen(function* () {
    const states = yield* sql<{ readonly state_id: string; readonly node_id: string; readonly output_hash: string | null; readonly duration_ms: number | null }>`
      SELECT state_id, node_id, output_hash, duration_ms FROM node_states WHERE run_id = ${runId} AND status = 'running'`
    const operations = yield* sql<{ readonly operation_id: string; readonly details_json: string; readonly duration_ms: number | null }>`
      SELECT operation_id, details_json, duration_ms FROM operations WHERE run_id = ${runId} AND status = 'running'`
    const [run] = yield* sql<RunDbRow>`SELECT * FROM runs WHERE run_id = ${runId}`
    const [chained] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM audit_chain WHERE run_id = ${runId}`
    if (run === undefined) return
    const errorJson = JSON.stringify({ kind: "interrupted", message: reason })
    const facts: Chain.BatchFacts = {
      state_end: states.map((s) =>
        Chain.facts.stateEnd({ stateId: s.state_id, status: "failed", outputHash: s.output_hash, errorJson, completedAt: now, durationMs: numOrNull(s.duration_ms) })),
      operation_end: operations.map((o) =>
        Chain.facts.operationEnd({ operationId: o.operation_id, status: "failed", detailsJson: o.details_json, error: reason, completedAt: now, durationMs: numOrNull(o.duration_ms) })),
      run_end: [Chain.facts.runEnd({
        runId,
        status: "interrupted",
        finishedAt: now,
        durationMs: numOrNull(run.duration_ms),
        rowsRead: numOrNull(run.rows_read),
        rowsQuarantined: numOrNull(run.rows_quarantined),
        error: reason
      })]
    }
    // The run's statistics: the states closed move from `running` to `failed`.
    const stats = new RunStats(runId)
    for (const s of states) {
      stats.state(s.node_id, "running", numOrNull(s.duration_ms), -1)
      stats.state(s.node_id, "failed", numOrNull(s.duration_ms))
    }
    const updates = (seq: number | null, chainHash: string | null) =>
      Effect.all([
        makeStatsWriter(sql)(stats),
        sql`UPDATE node_states SET status = 'failed', error_json = ${errorJson}, completed_at = ${now}, end_seq = ${seq}
            WHERE run_id = ${runId} AND status = 'running'`,
        sql`UPDATE operations SET status = 'failed', error = ${reason}, completed_at = ${now}, end_seq = ${seq}
            WHERE run_id = ${runId} AND status = 'running'`,
        sql`UPDATE runs SET status = 'interrupted', error = ${reason}, finished_at = ${now}, end_seq = ${seq}, chain_hash = ${chainHash}
            WHERE run_id = ${runId} AND status = 'running'`
      ], { discard: true })
    if (num(chained?.n ?? 0) === 0) return yield* writeTransaction(sql, updates(null, null))
    yield* makeChain(sql)(runId, "recover", facts, states.length + operations.length + 1, updates)
  })

/** Marks every dead `running` run `interrupted`; returns the ids it marked. */
export const recoverStaleRuns = (
  sql: SqlClient.SqlClient,
  staleAfterMs: number
): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError | LandscapeError> =>
  Effect.gen(function* () {
    const running = yield* sql<RunningRow>`SELECT run_id, owner_host, owner_pid, heartbeat_at, started_at FROM runs WHERE status = 'running'`
    if (running.length === 0) return []
    const now = yield* Clock.currentTimeMillis
    const host = hostname()
    const dead = running.flatMap((run) => {
      const reason = deathOf(run, now, staleAfterMs, host)
      return reason === undefined ? [] : [{ runId: run.run_id, reason: `interrupted: ${reason}` }]
    })
    yield* Effect.forEach(dead, ({ reason, runId }) => interrupt(sql, runId, reason, now), { discard: true })
    return dead.map((d) => d.runId)
  })
