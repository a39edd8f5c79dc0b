/**
 * The records the engine writes to the Landscape (see `LandscapeService`'s write methods). Times are
 * epoch milliseconds, durations milliseconds, hashes SHA-256 hex over RFC 8785 canonical JSON.
 *
 * @since 0.1.0
 */
import type { CallStatus, CallType, Granularity, NodeStateStatus, RunStatus } from "../TelemetryEvent.js"

/**
 * What a node is (ELSPETH's node types): the `source`; a `transform` (an expansion is one); a `gate`
 * (a fork, and a fork-join's fork, route the row, so they are gates); an `aggregation`; the
 * `coalesce` of a fork-join; a `sink`. Runs recorded before schema 0010 have `transform` for the
 * last two.
 *
 * @since 0.1.0
 */
export type NodeKind = "source" | "transform" | "gate" | "aggregation" | "coalesce" | "sink"

/** @since 0.1.0 */
export interface RunStart {
  readonly runId: string
  readonly pipeline: string
  /** The pipeline's configuration as JSON-compatible data; stored with its hash. */
  readonly config: unknown
  readonly telemetryEnabled: boolean
  readonly telemetryGranularity: Granularity
  readonly startedAt: number
  /** W3C trace id (32 hex) of the run's span, so audit queries can find the run from a trace. */
  readonly traceId?: string
  /** The run that started this one (`Orchestrator.RunOptions.parent`), stored as `runs.parent_run_id`. */
  readonly parentRunId?: string
  /**
   * Who keeps the run alive: `"process"` (default) records this process (host, pid) as its owner,
   * so the run is taken for dead as soon as that process is gone; `"workers"` (a distributed run,
   * see `DistributedRun`) records no owner: the run is alive while some worker refreshes its heartbeat.
   */
  readonly owner?: "process" | "workers"
}

/** @since 0.1.0 */
export interface RunEnd {
  readonly runId: string
  readonly status: Exclude<RunStatus, "running">
  readonly finishedAt: number
  readonly durationMs: number
  readonly rowsRead: number
  readonly rowsQuarantined: number
  readonly error?: string
}

/** @since 0.1.0 */
export interface NodeRecord {
  readonly nodeId: string
  readonly runId: string
  readonly name: string
  readonly kind: NodeKind
  /** Position in the pipeline: source 0, then steps, then sinks. */
  readonly position: number
  readonly config: unknown
}

/** A source row and its first token, recorded together. @since 0.1.0 */
export interface RowRecord {
  readonly rowId: string
  readonly tokenId: string
  readonly runId: string
  readonly sourceNodeId: string
  readonly rowIndex: number
  /**
   * The row as the source read it (before decoding), as RFC 8785 canonical JSON text: the caller
   * canonicalizes once and hashes that text, so what is stored is exactly what was hashed.
   */
  readonly dataJson: string
  /** SHA-256 (hex) of `dataJson`. */
  readonly dataHash: string
  readonly createdAt: number
}

/** @since 0.1.0 */
export interface NodeStateStart {
  readonly stateId: string
  readonly runId: string
  readonly tokenId: string
  readonly nodeId: string
  readonly stepIndex: number
  /** 1 for a step's first attempt at the token, 2 for its first retry, … (`Pipeline.retry`). Default 1. */
  readonly attempt?: number
  readonly inputHash: string
  readonly startedAt: number
}

/** @since 0.1.0 */
export interface NodeStateEnd {
  readonly stateId: string
  readonly status: Exclude<NodeStateStatus, "running">
  readonly outputHash?: string
  /** The failure, as JSON-compatible data (e.g. `{ _tag, message }`). */
  readonly error?: unknown
  readonly completedAt: number
  readonly durationMs: number
}

/**
 * A node state recorded in one go, with its final status (the usual case: the engine journals a
 * step and writes it once it has finished).
 *
 * @since 0.1.0
 */
export type NodeStateRecord = NodeStateStart & Omit<NodeStateEnd, "stateId">

/**
 * Records written together, in one transaction: what the engine journals for a batch of rows.
 * `runningStates` are states still in progress (written as `running`); `stateUpdates` complete
 * states written as `running` earlier; `outcomes` are the terminal outcomes of tokens (a token
 * recorded in the same batch is inserted with its outcome, an earlier one is updated).
 *
 * @since 0.1.0
 */
export interface RecordBatch {
  readonly rows: ReadonlyArray<RowRecord>
  readonly nodeStates: ReadonlyArray<NodeStateRecord>
  readonly runningStates: ReadonlyArray<NodeStateStart>
  readonly stateUpdates: ReadonlyArray<NodeStateEnd>
  readonly routing: ReadonlyArray<RoutingRecord>
  /** External calls, written after the node states they refer to. */
  readonly calls: ReadonlyArray<CallRecord>
  readonly outcomes: ReadonlyArray<TokenEnd>
  /** Tokens besides each row's first: children of an expansion or a fork, with their parents. Default none. */
  readonly tokens?: ReadonlyArray<TokenRecord>
  /** Aggregation batches opened (their first member buffered). Default none. */
  readonly batches?: ReadonlyArray<BatchRecord>
  /** Tokens buffered into a batch (written after the tokens and batches they refer to). Default none. */
  readonly batchMembers?: ReadonlyArray<BatchMemberRecord>
  /** Batches flushed or failed (written after the node states they refer to). Default none. */
  readonly batchEnds?: ReadonlyArray<BatchEnd>
}

/**
 * An aggregation's batch (`Pipeline.Aggregate`), recorded when its first member is buffered:
 * `open` until it is flushed (or fails).
 *
 * @since 0.4.0
 */
export interface BatchRecord {
  readonly batchId: string
  readonly runId: string
  /** The aggregation's node. */
  readonly nodeId: string
  readonly createdAt: number
}

/**
 * A token buffered into a batch: its place in the batch (`ordinal`, from 0, source order). A token
 * is a member of at most one batch (a unique index). While its batch is open the token has no
 * outcome (it is `buffered`); when the batch flushes it ends `consumed_in_batch`.
 *
 * @since 0.4.0
 */
export interface BatchMemberRecord {
  readonly batchId: string
  readonly tokenId: string
  readonly ordinal: number
  readonly runId: string
}

/**
 * How a batch ended: `flushed` (its node state completed), or `failed` (the flush failed, its
 * members quarantined; or a resume found its flush begun and never committed, its members failed).
 * `trigger` is what fired (`null` for a batch a resume closed); `stateId` the flush's node state.
 *
 * @since 0.4.0
 */
export interface BatchEnd {
  readonly batchId: string
  readonly status: "flushed" | "failed"
  readonly trigger: "count" | "timeout" | "condition" | "end_of_source" | null
  readonly stateId: string | null
  readonly flushedAt: number
}

/**
 * A token besides its row's first (which `RowRecord.tokenId` records): one of the children of an
 * expansion or a fork, linked to its parent tokens (`token_parents`; `ordinal`: its place among
 * the parent's children, from 0).
 *
 * @since 0.4.0
 */
export interface TokenRecord {
  readonly tokenId: string
  readonly rowId: string
  readonly runId: string
  readonly createdAt: number
  readonly parents: ReadonlyArray<{ readonly tokenId: string; readonly ordinal: number }>
}

/** @since 0.1.0 */
export interface RoutingRecord {
  readonly routingId: string
  readonly runId: string
  readonly stateId: string
  readonly tokenId: string
  /** Sink name, or `continue`. */
  readonly destination: string
  readonly destinationNodeId?: string
  readonly createdAt: number
}

/**
 * A token's terminal outcome: `routed` (written to the sink `sinkNodeId`), `quarantined` (written
 * to the quarantine sink), `failed` (its sink could not write it; the sink's operation holds the
 * error; or the run stopped before its batch was committed), `expanded` / `forked` (it became child
 * tokens, `token_parents`; `sinkNodeId` is then the node that split it), and, for the DAG steps to
 * come, `completed`, `coalesced`, `consumed_in_batch`. One per token: the database refuses a second.
 *
 * @since 0.1.0
 */
export type TokenOutcome = "routed" | "quarantined" | "failed" | "completed" | "expanded" | "forked" | "coalesced" | "consumed_in_batch"

/** @since 0.1.0 */
export interface TokenEnd {
  readonly tokenId: string
  readonly outcome: TokenOutcome
  /** The sink the token reached, `null` for a token that never reached one (a partition's row abandoned by a worker that died). */
  readonly sinkNodeId: string | null
  readonly completedAt: number
}

/** @since 0.1.0 */
export interface OperationStart {
  readonly operationId: string
  readonly runId: string
  readonly nodeId: string
  /** e.g. `source.read`, `sink.write`. */
  readonly kind: string
  readonly details: unknown
  readonly startedAt: number
}

/** @since 0.1.0 */
export interface OperationEnd {
  readonly operationId: string
  readonly status: "completed" | "failed"
  readonly details: unknown
  readonly error?: string
  readonly completedAt: number
  readonly durationMs: number
}

/**
 * One external call. Exactly one of `stateId` (made in a transform) or `operationId` (made in a
 * source or sink) is set; the table enforces it with a CHECK constraint too.
 *
 * @since 0.1.0
 */
export type CallRecord = {
  readonly callId: string
  readonly runId: string
  readonly nodeId: string
  readonly callType: CallType
  readonly status: CallStatus
  /** Redacted request, JSON-compatible. */
  readonly request?: unknown
  readonly requestHash?: string
  /** Redacted response, JSON-compatible. */
  readonly response?: unknown
  readonly responseHash?: string
  /** OpenTelemetry semantic-convention attributes (`http.request.method`, ...). */
  readonly attributes: Readonly<Record<string, string | number | boolean>>
  readonly error?: string
  readonly latencyMs: number
  readonly createdAt: number
} & ({ readonly stateId: string; readonly operationId?: never } | { readonly operationId: string; readonly stateId?: never })

/** A run as stored. @since 0.1.0 */
export interface RunRow {
  readonly runId: string
  readonly pipeline: string
  readonly status: RunStatus
  readonly startedAt: number
  readonly finishedAt: number | null
  readonly durationMs: number | null
  readonly configHash: string
  readonly telemetryEnabled: boolean
  readonly telemetryGranularity: string | null
  readonly rowsRead: number | null
  readonly rowsQuarantined: number | null
  readonly error: string | null
  /** The host and process that run(s) it; a run left `running` by a dead process is marked `interrupted` on the next open. */
  readonly ownerHost: string | null
  readonly ownerPid: number | null
  /** Last sign of life of a `running` run, epoch milliseconds. */
  readonly heartbeatAt: number | null
  /** The hash scheme of the run's records (`sha256-rfc8785-v1`); `null` for runs recorded before schema 0003 (same scheme). */
  readonly canonicalVersion: string | null
  /** W3C trace id of the run's span, when the engine gave it. */
  readonly traceId: string | null
  /** The run that started this one, when there was one (schema 0004). */
  readonly parentRunId: string | null
  /** The run's final hash-chain value, stored when it ended (`null` while running, or recorded before the chain existed). */
  readonly chainHash: string | null
}

/**
 * The state of one partition of a distributed run (`DistributedRun`), as `run_partitions` holds
 * it: `pending` (never claimed, or released), `running` (leased by `owner` until
 * `leaseExpiresAt`), `completed` or `failed`.
 *
 * @since 0.3.0
 */
export interface PartitionStatus {
  readonly runId: string
  /** 0-based; the partition holds the source records whose index modulo `count` is `index`. */
  readonly index: number
  readonly count: number
  readonly status: "pending" | "running" | "completed" | "failed"
  /** The worker holding (or that last held) the lease. */
  readonly owner: string | null
  /** Claims so far: the fencing token of the current lease (a write with an older one is refused). */
  readonly attempt: number
  readonly leaseExpiresAt: number | null
  /** The checkpoint: the next source index to read (every record of the partition before it is committed). */
  readonly position: number
  readonly rowsRead: number
  readonly rowsQuarantined: number
  readonly rowsPerSink: Readonly<Record<string, number>>
  readonly updatedAt: number
  readonly completedAt: number | null
}

/**
 * A partition a worker has claimed: its lease (`owner`, `attempt`) and the checkpoint to continue
 * from, plus `state`, what the previous attempt's sinks and operations need to be continued
 * (JSON-compatible, `null` on the first attempt).
 *
 * @since 0.3.0
 */
export interface PartitionLease extends PartitionStatus {
  readonly status: "running"
  readonly owner: string
  readonly leaseExpiresAt: number
  readonly state: unknown
  /** The worker whose expired lease this claim took over; `null` when the partition was pending. */
  readonly previousOwner: string | null
  /** W3C `traceparent` of the run's span, so every worker's spans join the run's trace. */
  readonly traceparent: string | null
}

/**
 * A checkpoint of a leased partition, written in the same transaction as the batch it follows
 * (`recordBatch`), or on its own. Refused (`LandscapeError`, operation `partitionLease`) when the
 * lease is no longer `owner`'s at `attempt`: the partition was taken over.
 *
 * @since 0.3.0
 */
export interface PartitionCheckpoint {
  readonly runId: string
  readonly index: number
  readonly owner: string
  readonly attempt: number
  readonly position: number
  readonly rowsRead: number
  readonly rowsQuarantined: number
  readonly rowsPerSink: Readonly<Record<string, number>>
  /** JSON-compatible: what the sinks and operations of this attempt need to be continued. */
  readonly state: unknown
  /** The lease is extended to this time (epoch ms). */
  readonly leaseExpiresAt: number
}

/**
 * A single-process run's checkpoint, from which `Orchestrator.resume` continues it: written in the
 * transaction of each committed batch (`recordBatch`), and on its own once the sinks are open.
 * Refused (`LandscapeError`, operation `runCheckpoint`) when `attempt` is no longer the run's
 * (another process has resumed it since), so two processes never both write one run's output.
 *
 * @since 0.4.0
 */
export interface RunCheckpoint {
  readonly _tag: "RunCheckpoint"
  readonly runId: string
  /** 1 for the run, one more for each resume: the fence of its writes. */
  readonly attempt: number
  /** The next source index to read: every source record before it is committed. */
  readonly position: number
  readonly rowsRead: number
  readonly rowsQuarantined: number
  /** Rows whose token ended `failed` (a sink write failed, or a resume closed them). */
  readonly rowsFailed: number
  readonly rowsPerSink: Readonly<Record<string, number>>
  /** JSON-compatible: what the run's sinks need to continue their output, `{ sinks: { [name]: SinkDetails } }`. */
  readonly state: unknown
}

/**
 * What `Orchestrator.resume` reads of a run before it resumes it.
 *
 * @since 0.4.0
 */
export interface ResumePoint {
  readonly run: RunRow
  /** The pipeline's configuration as recorded when the run began (`runs.config_json`). */
  readonly config: unknown
  /** Node ids by node name, as registered when the run began. */
  readonly nodeIds: Readonly<Record<string, string>>
  /** The run's checkpoint; `undefined` for a run that has none (recorded before schema 0007, or distributed). */
  readonly checkpoint: RunCheckpoint | undefined
}

/**
 * What `checkpoints.resume` did to reopen a run: the checkpoint it continues from (at the new
 * attempt), the source rows it closed, and how the run had ended before.
 *
 * @since 0.4.0
 */
export interface ResumedRun {
  readonly checkpoint: RunCheckpoint
  /**
   * Source indexes at or after the checkpoint whose row an external call had recorded early and no
   * batch committed: their tokens are now `failed` (counted in `checkpoint.rowsFailed`), and they
   * are not processed again, so no external call is made twice.
   */
  readonly skipped: ReadonlyArray<number>
  /**
   * Aggregation batches left open whose flush had begun (a node state of the aggregation on the
   * batch's first member): closed `failed` with their members, since the flush's calls may have
   * been made; the engine does not restore them from the checkpoint. Other open batches stay open.
   */
  readonly closedBatches: ReadonlyArray<string>
  readonly previous: {
    readonly status: RunStatus
    readonly error: string | null
    /** Milliseconds the run had run before (the sum of its attempts). */
    readonly durationMs: number | null
  }
}

/**
 * What a previous attempt on a partition left open: its operations still `running`, and the rows
 * of the partition at or after the checkpoint that an external call recorded early (`journal.ts`)
 * but no batch committed: their tokens without outcome and their node states still `running`.
 *
 * @since 0.3.0
 */
export interface PartitionLeftovers {
  readonly operations: ReadonlyArray<{ readonly operationId: string; readonly startedAt: number; readonly details: unknown }>
  readonly rows: ReadonlyArray<{ readonly rowIndex: number; readonly tokenId: string }>
  readonly runningStates: ReadonlyArray<{ readonly stateId: string; readonly startedAt: number }>
}

/**
 * What a worker joining a distributed run needs to know of it.
 *
 * @since 0.3.0
 */
export interface PartitionedRun {
  readonly runId: string
  readonly pipeline: string
  readonly status: RunStatus
  /** SHA-256 of the pipeline's configuration as recorded: a worker's pipeline must have the same. */
  readonly configHash: string
  readonly startedAt: number
  /** Node ids by node name, as registered when the run began. */
  readonly nodeIds: Readonly<Record<string, string>>
  /** How many partitions the run has; 0 for a run that is not distributed. */
  readonly partitions: number
  /** W3C `traceparent` of the run's span. */
  readonly traceparent: string | null
}
