/**
 * Database rows to the read side's values: numbers (PostgreSQL returns BIGINT as text), runs,
 * payloads (stored, purged or none).
 *
 * @internal
 */
import type { RunRow } from "./records.js"
import type { Payload } from "./results.js"

/** A numeric column: SQLite returns numbers, PostgreSQL BIGINT as text. */
export const num = (n: number | string | bigint): number => Number(n)
export const numOrNull = (n: number | string | bigint | null): number | null => (n === null ? null : Number(n))

export interface RunDbRow {
  readonly run_id: string
  readonly pipeline: string
  readonly status: RunRow["status"]
  readonly started_at: number
  readonly finished_at: number | null
  readonly duration_ms: number | null
  readonly config_hash: string
  readonly config_json: string
  readonly telemetry_enabled: number
  readonly telemetry_granularity: string | null
  readonly rows_read: number | null
  readonly rows_quarantined: number | null
  readonly error: string | null
  readonly owner_host: string | null
  readonly owner_pid: number | null
  readonly heartbeat_at: number | null
  readonly canonical_version: string | null
  readonly trace_id: string | null
  readonly parent_run_id: string | null
  readonly chain_hash: string | null
  readonly end_seq: number | null
}

export const toRunRow = (r: RunDbRow): RunRow => ({
  runId: r.run_id,
  pipeline: r.pipeline,
  status: r.status,
  startedAt: num(r.started_at),
  finishedAt: numOrNull(r.finished_at),
  durationMs: numOrNull(r.duration_ms),
  configHash: r.config_hash,
  telemetryEnabled: num(r.telemetry_enabled) === 1,
  telemetryGranularity: r.telemetry_granularity,
  rowsRead: numOrNull(r.rows_read),
  rowsQuarantined: numOrNull(r.rows_quarantined),
  error: r.error,
  ownerHost: r.owner_host,
  ownerPid: numOrNull(r.owner_pid),
  heartbeatAt: numOrNull(r.heartbeat_at),
  canonicalVersion: r.canonical_version,
  traceId: r.trace_id,
  parentRunId: r.parent_run_id,
  chainHash: r.chain_hash
})

/** JSON text as stored (always valid JSON: the Landscape wrote it), or `null`. */
export const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

/** A payload column: its value, `purged` when `purge` deleted it, `none` when nothing was stored. */
export const payload = (text: string | null, purgedAt: number | string | null): Payload =>
  text !== null ? { status: "stored", value: JSON.parse(text) } : purgedAt !== null ? { status: "purged", purgedAt: num(purgedAt) } : { status: "none" }

/** One line: the message of a recorded failure (`error_json`), for lists and tables. */
export const failureLine = (errorJson: string | null): string | null => {
  if (errorJson === null) return null
  const e = JSON.parse(errorJson) as { readonly message?: unknown; readonly issues?: ReadonlyArray<{ readonly path?: ReadonlyArray<string>; readonly message?: string }> }
  if (typeof e.message === "string") return e.message.replace(/\s+/g, " ")
  const first = e.issues?.[0]
  if (first !== undefined) return `${(first.path ?? []).join(".") || "row"}: ${first.message ?? ""}`.replace(/\s+/g, " ")
  return errorJson
}
