/**
 * What the Landscape's read side takes and returns: lineage (`explain`, `trace`), `findRows`, audit
 * queries, run summaries, `verify`, `export` and `purge`. Times are epoch milliseconds, durations
 * milliseconds, hashes SHA-256 hex over RFC 8785 canonical JSON.
 *
 * @since 0.1.0
 */
import type { CallStatus, CallType, RunStatus } from "../TelemetryEvent.js"
import type { RunTotals } from "../internal/usage.js"
import type { NodeKind, PartitionStatus, RunRow, TokenOutcome } from "./records.js"

/**
 * A stored payload (row data, a call's request or response): its value, or `purged` (deleted by
 * `purge`; its hash stays), or `none` (nothing was recorded).
 *
 * @since 0.1.0
 */
export type Payload =
  | { readonly status: "stored"; readonly value: unknown }
  | { readonly status: "purged"; readonly purgedAt: number }
  | { readonly status: "none" }

/** `runs` filters. @since 0.1.0 */
export interface RunsOptions {
  readonly status?: RunStatus | ReadonlyArray<RunStatus>
  readonly pipeline?: string
  /** The runs started by this run (`Orchestrator.RunOptions.parent`): its children in a run tree. */
  readonly parentRunId?: string
  /** Runs started at or after this time. */
  readonly since?: number
  /** At most this many, most recent first. Default 100. */
  readonly limit?: number
}

/** Which row or token `explain` is about: exactly one of a row id, a token id, or a row index (0 = the source's first record). @since 0.1.0 */
export type ExplainTarget =
  | { readonly rowId: string; readonly tokenId?: never; readonly rowIndex?: never }
  | { readonly tokenId: string; readonly rowId?: never; readonly rowIndex?: never }
  | { readonly rowIndex: number; readonly rowId?: never; readonly tokenId?: never }

/** @since 0.1.0 */
export type ExplainRequest = { readonly runId: string } & ExplainTarget

/** One external call, with its redacted payloads. @since 0.1.0 */
export interface CallView {
  readonly callId: string
  readonly callType: CallType
  readonly status: CallStatus
  readonly latencyMs: number
  readonly createdAt: number
  readonly requestHash: string | null
  readonly responseHash: string | null
  readonly request: Payload
  readonly response: Payload
  readonly attributes: Readonly<Record<string, unknown>>
  readonly error: string | null
}

/** One node state of a token: a step's work on it. @since 0.1.0 */
export interface StateView {
  readonly stateId: string
  readonly nodeId: string
  readonly node: string
  readonly kind: NodeKind
  readonly stepIndex: number
  readonly attempt: number
  readonly status: "running" | "completed" | "failed"
  readonly inputHash: string
  readonly outputHash: string | null
  readonly startedAt: number
  readonly completedAt: number | null
  readonly durationMs: number | null
  /** The failure as recorded (`{ kind, message, … }`), `null` when it did not fail. */
  readonly error: unknown
  /** Gate decisions made in this state: `continue` or a sink name. */
  readonly routing: ReadonlyArray<{ readonly destination: string; readonly sink: string | null }>
  /** External calls made in this state. */
  readonly calls: ReadonlyArray<CallView>
}

/**
 * Where a token ended: its terminal outcome and sink, or why it has none: the run is still
 * running, or the token was in flight when the run stopped (an interrupted or failed run).
 *
 * @since 0.1.0
 */
export type OutcomeView =
  | { readonly outcome: TokenOutcome; readonly sink: string | null; readonly completedAt: number | null }
  | { readonly outcome: null; readonly reason: "running" | "in flight when the run stopped" | "missing" }

/**
 * Backward lineage of one token: its source row (data and hash), every node state in order with
 * routing and calls, and its terminal outcome.
 *
 * @since 0.1.0
 */
export interface Explanation {
  readonly run: { readonly runId: string; readonly pipeline: string; readonly status: RunStatus }
  readonly row: {
    readonly rowId: string
    readonly rowIndex: number
    readonly sourceNode: string
    readonly dataHash: string
    readonly data: Payload
    readonly createdAt: number
  }
  readonly token: { readonly tokenId: string; readonly createdAt: number }
  readonly states: ReadonlyArray<StateView>
  /**
   * The aggregation batch the token was buffered into (`batch_members`), when it was: the batch,
   * the token's place in it (`ordinal`, from 0, of `size`), how it ended (`open` while buffered)
   * and what triggered its flush, and the flush's node state with its calls (on the batch's first
   * member; for every member the calls the batch made on its behalf). Absent for other tokens.
   */
  readonly batch?: BatchView
  readonly outcome: OutcomeView
}

/** A token's aggregation batch, as `explain` shows it. @since 0.4.0 */
export interface BatchView {
  readonly batchId: string
  readonly node: string
  readonly status: "open" | "flushed" | "failed"
  readonly trigger: "count" | "timeout" | "condition" | "end_of_source" | null
  readonly ordinal: number
  readonly size: number
  /** The flush's node state (its last attempt) with its calls; `null` while the batch is open. */
  readonly flush: StateView | null
}

/**
 * Forward lineage of one source row: every token of it and where each ended, and the tokens made
 * from them elsewhere (an aggregation's output belongs to its batch's first member's row), in the
 * order they were recorded.
 *
 * @since 0.1.0
 */
export interface Trace {
  readonly runId: string
  readonly row: { readonly rowId: string; readonly rowIndex: number; readonly dataHash: string }
  readonly tokens: ReadonlyArray<{
    readonly tokenId: string
    /** Tokens this one came from (expansions, forks, aggregations; empty for a row's first token). */
    readonly parents: ReadonlyArray<string>
    /** The row the token belongs to: this row's id, or another's for the output of a batch this row's token joined. */
    readonly rowId: string
    /** The nodes it went through, in order, with each state's status. */
    readonly path: ReadonlyArray<{ readonly node: string; readonly status: string }>
    readonly outcome: OutcomeView
  }>
}

/** A source field's value to match: one value, or any of several. @since 0.1.0 */
export type FieldValue = string | number | boolean | null

/** @since 0.1.0 */
export interface FindRowsRequest {
  readonly runId: string
  /**
   * Field path (`origin`, `address.city`) to the value(s) it must have in the stored source record
   * (SQLite `json_extract`). Several fields must all match.
   */
  readonly where: Readonly<Record<string, FieldValue | ReadonlyArray<FieldValue>>>
  /** At most this many rows (the first recorded with the value), sorted by row index. Default 100. */
  readonly limit?: number
}

/** @since 0.1.0 */
export interface FoundRow {
  readonly rowId: string
  readonly rowIndex: number
  readonly tokenId: string | null
  readonly outcome: TokenOutcome | null
  readonly sink: string | null
  readonly dataHash: string
}

/** Record kinds `query` returns. @since 0.1.0 */
export type AuditKind = "nodeState" | "call" | "operation" | "quarantine"

/** `info` (completed, success), `warning` (running, quarantined), `error` (failed). @since 0.1.0 */
export type Severity = "info" | "warning" | "error"

/**
 * An audit query. Every filter is optional and they all apply. Results come in audit order: runs by
 * start time, then each run's records in the order they were committed (their hash-chain place).
 *
 * @since 0.1.0
 */
export interface AuditQuery {
  /** Default: all four. */
  readonly kinds?: ReadonlyArray<AuditKind>
  readonly runIds?: ReadonlyArray<string>
  /** Only records whose own time (a state's or operation's start, a call's or quarantine's record time) is at or after this. */
  readonly since?: number
  /** …and at or before this. */
  readonly until?: number
  readonly rowIds?: ReadonlyArray<string>
  /** W3C trace id (32 hex) of a run. */
  readonly traceId?: string
  /** Node names. */
  readonly nodes?: ReadonlyArray<string>
  /** Statuses as stored: `running`, `completed`, `failed` (states, operations), `success`, `error` (calls), `quarantined`. */
  readonly status?: ReadonlyArray<string>
  /** Minimum severity. */
  readonly severity?: Severity
  /** Page size, 1 to 10,000. Default 100. */
  readonly limit?: number
  /** From the previous page; the query's filters must be the same. */
  readonly continuationToken?: string
}

/** One record of an audit query. @since 0.1.0 */
export interface AuditItem {
  readonly kind: AuditKind
  readonly runId: string
  readonly node: string
  readonly nodeId: string
  readonly status: string
  readonly severity: Severity
  /** The record's own time. */
  readonly time: number
  readonly durationMs: number | null
  /** The record's id: state, call, operation, or (quarantine) token id. */
  readonly id: string
  readonly rowId: string | null
  readonly tokenId: string | null
  /** Failure detail, call error, or quarantine reason, one line; `null` when none. */
  readonly message: string | null
}

/**
 * A page of results. `continuationToken` is `null` on the last page. A token pins the query to what
 * was committed when its first page was read: paging neither skips nor repeats a record, however
 * much other runs write meanwhile (records committed after the first page are not in the results).
 *
 * @since 0.1.0
 */
export interface AuditPage {
  readonly items: ReadonlyArray<AuditItem>
  readonly continuationToken: string | null
}

/**
 * Percentiles of some durations, milliseconds. In a `RunSummary`, p50 and p95 are read from a
 * histogram (OpenTelemetry's exponential buckets at scale 4): the upper bound of the bucket holding
 * the nearest-rank value (rank ⌈p·n⌉), at most 4.4 % above that value and never above `max`, which
 * is exact.
 *
 * @since 0.1.0
 */
export interface DurationStats {
  readonly p50: number
  readonly p95: number
  readonly max: number
}

/** @since 0.1.0 */
export interface RunSummary {
  readonly run: RunRow
  readonly nodes: ReadonlyArray<{
    readonly nodeId: string
    readonly name: string
    readonly kind: NodeKind
    readonly position: number
    /** Node states by status. */
    readonly states: Readonly<Record<string, number>>
    readonly durationMs: DurationStats | null
  }>
  /** Tokens by terminal outcome; `none`: no outcome (in flight, or the run is running). */
  readonly outcomes: Readonly<Record<TokenOutcome | "none", number>>
  /** Tokens routed to each sink, by sink name. */
  readonly sinks: Readonly<Record<string, number>>
  /**
   * External calls by type, service and status. The service is the host of an HTTP call
   * (`server.address`), the provider of an LLM call (`gen_ai.provider.name`), the database of a SQL
   * call (`db.system.name`), else `""`.
   */
  readonly calls: ReadonlyArray<{ readonly callType: CallType; readonly service: string; readonly status: CallStatus; readonly count: number; readonly latencyMs: DurationStats }>
  /** LLM calls, tokens and cost (USD): for the run and per node, in pipeline order. */
  readonly llm: RunTotals
  /** Why rows were quarantined, grouped: the failing node and the reason's kind and message. */
  readonly quarantineReasons: ReadonlyArray<{ readonly node: string; readonly kind: string; readonly reason: string; readonly count: number; readonly exampleRowId: string }>
  readonly operations: ReadonlyArray<{ readonly node: string; readonly kind: string; readonly status: string; readonly durationMs: number | null; readonly error: string | null }>
  /** A distributed run's partitions (`DistributedRun`), by index; empty for a run of one process. */
  readonly partitions: ReadonlyArray<PartitionStatus>
}

/** One problem `verify` found, named with the record it concerns. @since 0.1.0 */
export interface Problem {
  readonly check: "hash" | "chain" | "outcome" | "open" | "call" | "lineage" | "counts" | "statistics" | "scheme" | "signature"
  /** Table and id (`rows 0191…`, `audit_chain 17`), or the export line. */
  readonly record: string
  readonly message: string
}

/** @since 0.1.0 */
export interface VerifyReport {
  readonly runId: string
  readonly ok: boolean
  readonly canonicalVersion: string | null
  readonly counts: {
    readonly rows: number
    readonly tokens: number
    readonly nodeStates: number
    readonly calls: number
    readonly operations: number
    readonly links: number
    /** Payloads whose hash was recomputed (purged ones cannot be). */
    readonly hashesChecked: number
  }
  /** The first chain link whose recomputed batch hash differs from the stored one; `null` when none does. */
  readonly firstDivergentLink: number | null
  /** The final chain value recomputed from the records, and the one stored at the run's end. */
  readonly chainHash: { readonly computed: string | null; readonly stored: string | null }
  /** Tokens without outcome in a run that stopped: in flight then, not corruption. */
  readonly inFlight: number
  /** At most 1,000; `problemCount` has them all. */
  readonly problems: ReadonlyArray<Problem>
  readonly problemCount: number
}

/** The last line of an export. @since 0.1.0 */
export interface ExportManifest {
  readonly type: "manifest"
  readonly runId: string
  /** Records before the manifest. */
  readonly recordCount: number
  /** SHA-256 over the records' signatures, in order (hex). */
  readonly finalHash: string
  /** The run's hash-chain value, as stored and as recomputed by the export. */
  readonly chainHash: string | null
  readonly hashAlgorithm: "sha256"
  readonly signatureAlgorithm: "hmac-sha256"
  readonly canonicalization: "rfc8785"
  readonly chainAlgorithm: string
  readonly exportedAt: number
}

/** What `verify --export` found in an export file. @since 0.1.0 */
export interface ExportVerifyReport {
  readonly ok: boolean
  readonly runId: string | null
  readonly records: number
  readonly manifest: ExportManifest | null
  readonly problems: ReadonlyArray<Problem>
}

/** @since 0.1.0 */
export interface PurgeOptions {
  /** Purge payloads of runs that finished before this time (epoch ms). */
  readonly olderThan: number
  /** Count what would be purged, change nothing. */
  readonly dryRun?: boolean
}

/** @since 0.1.0 */
export interface PurgeResult {
  readonly runs: ReadonlyArray<string>
  readonly rows: number
  readonly calls: number
  /** Payload bytes deleted (or that would be, with `dryRun`). */
  readonly bytes: number
  readonly dryRun: boolean
}
