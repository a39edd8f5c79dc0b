/**
 * The `LandscapeService` interface: the engine's writes and the read side.
 *
 * @since 0.1.0
 */
import type { Effect, Option, Redacted, Stream } from "effect"
import type { RunTotals } from "../internal/usage.js"
import type { LandscapeError } from "./error.js"
import type {
  CallRecord,
  NodeRecord,
  OperationEnd,
  OperationStart,
  PartitionCheckpoint,
  PartitionedRun,
  PartitionLease,
  PartitionLeftovers,
  PartitionStatus,
  RecordBatch,
  ResumedRun,
  ResumePoint,
  RunCheckpoint,
  RunEnd,
  RunRow,
  RunStart
} from "./records.js"
import type {
  AuditPage,
  AuditQuery,
  Explanation,
  ExplainRequest,
  FindRowsRequest,
  FoundRow,
  PurgeOptions,
  PurgeResult,
  RunsOptions,
  RunSummary,
  Trace,
  VerifyReport
} from "./results.js"

/**
 * @since 0.1.0
 */
export interface LandscapeService {
  /** Records a `running` run owned by this process (host name and pid), with a first heartbeat; the first link of its hash chain. */
  readonly beginRun: (run: RunStart) => Effect.Effect<void, LandscapeError>
  /** Refreshes the run's heartbeat (`heartbeat_at`), so another process opening the Landscape sees it is alive. Not chained: liveness, not audit. */
  readonly heartbeat: (runId: string) => Effect.Effect<void, LandscapeError>
  /**
   * Records how the run ended, as the last link of its chain, and stores the chain's final value.
   * Fails with `LandscapeError` if the run is no longer `running` (another process found it without
   * a heartbeat and marked it `interrupted`).
   */
  readonly finishRun: (run: RunEnd) => Effect.Effect<void, LandscapeError>
  /** Registers the nodes of one run (one link). */
  readonly registerNodes: (nodes: ReadonlyArray<NodeRecord>) => Effect.Effect<void, LandscapeError>
  /**
   * Writes a batch of one run's rows (each with its first token), node states, routing decisions,
   * calls and outcomes in one transaction, as one link of its chain. With `checkpoint`, the run's
   * checkpoint (or a distributed run's partition's) is written in the same transaction, and the
   * whole batch is refused when its writer was fenced out: another process resumed the run
   * (`runCheckpoint`), or another worker took the partition over (`partitionLease`).
   */
  readonly recordBatch: (batch: RecordBatch, checkpoint?: RunCheckpoint | PartitionCheckpoint) => Effect.Effect<void, LandscapeError>
  readonly beginOperation: (operation: OperationStart) => Effect.Effect<void, LandscapeError>
  readonly completeOperation: (operation: OperationEnd) => Effect.Effect<void, LandscapeError>
  /** The partitions of distributed runs: leases, checkpoints, completion (see `DistributedRun`). */
  readonly partitions: PartitionsService
  /** Checkpoints of single-process runs, and resuming them (see `Orchestrator.resume`). */
  readonly checkpoints: RunCheckpointsService
  /** Records one call made in a node state or an operation (one link). */
  readonly recordCall: (call: CallRecord) => Effect.Effect<void, LandscapeError>
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunRow>, LandscapeError>
  /** Tokens and cost (USD) of the run's LLM calls, for the run and per node. */
  readonly llmUsage: (runId: string) => Effect.Effect<RunTotals, LandscapeError>
  /** Most recent first. */
  readonly listRuns: (options?: { readonly limit?: number }) => Effect.Effect<ReadonlyArray<RunRow>, LandscapeError>
  /** Runs by status, pipeline and start time, most recent first. */
  readonly runs: (options?: RunsOptions) => Effect.Effect<ReadonlyArray<RunRow>, LandscapeError>
  /**
   * Per node counts by status and duration percentiles (from histograms: see `DurationStats`),
   * outcomes, tokens per sink, calls by type, service and status, LLM tokens and cost per node,
   * quarantine reasons grouped. Read from the run's statistics, which every write keeps current
   * (migration 0011): its time does not grow with the run's size. `None` for an unknown run.
   */
  readonly runSummary: (runId: string) => Effect.Effect<Option.Option<RunSummary>, LandscapeError>
  /** Backward lineage of a row (its first token) or a token. `None` when the run has no such row or token. */
  readonly explain: (request: ExplainRequest) => Effect.Effect<Option.Option<Explanation>, LandscapeError>
  /** Forward lineage of a row: every token and where each ended. `None` when the run has no such row. */
  readonly trace: (request: { readonly runId: string; readonly rowId: string }) => Effect.Effect<Option.Option<Trace>, LandscapeError>
  /**
   * Rows whose stored source record has the given field values. The first search on a field creates
   * an expression index for it (`rows_field_<name>`, a few seconds on a million rows; each index then
   * costs the write path one `json_extract` per row); a read-only Landscape scans instead.
   */
  readonly findRows: (request: FindRowsRequest) => Effect.Effect<ReadonlyArray<FoundRow>, LandscapeError>
  /** Node states, calls, operations and quarantines, filtered, in audit order, a page at a time. */
  readonly query: (query: AuditQuery) => Effect.Effect<AuditPage, LandscapeError>
  /** Recomputes every hash and the run's chain, and checks outcomes, open records and calls. */
  readonly verify: (runId: string) => Effect.Effect<VerifyReport, LandscapeError>
  /**
   * The run's complete audit as JSON Lines (one record a line, each signed with HMAC-SHA256 over its
   * canonical JSON with `key`), ending in the manifest line.
   */
  readonly exportRun: (runId: string, key: Redacted.Redacted<string>) => Stream.Stream<string, LandscapeError>
  /** Deletes the payloads (row data, call bodies) of runs that finished before `olderThan`; every hash stays. */
  readonly purge: (options: PurgeOptions) => Effect.Effect<PurgeResult, LandscapeError>
}

/**
 * The partitions of distributed runs (`DistributedRun`): a worker claims a partition (a lease with
 * a fencing `attempt`), renews its lease, writes checkpoints (with its batches through
 * `recordBatch`, or alone), and completes, releases or fails it. Every write of a lease is refused
 * with `LandscapeError` (operation `partitionLease`) once another worker has taken the partition
 * over. Times are epoch milliseconds of the caller's clock.
 *
 * @since 0.3.0
 */
export interface PartitionsService {
  /** Records `count` pending partitions of a run begun with `owner: "workers"`. */
  readonly create: (runId: string, count: number, traceparent: string | null, now: number) => Effect.Effect<void, LandscapeError>
  /** Claims a pending partition, or one whose lease expired before `now`, until `now + leaseMs`; `None` when there is none. */
  readonly claim: (runId: string, owner: string, leaseMs: number, now: number) => Effect.Effect<Option.Option<PartitionLease>, LandscapeError>
  readonly renew: (lease: PartitionRef, leaseExpiresAt: number, now: number) => Effect.Effect<void, LandscapeError>
  readonly checkpoint: (checkpoint: PartitionCheckpoint, now: number) => Effect.Effect<void, LandscapeError>
  /** Back to `pending` with its checkpoint, for another worker to continue (an interrupted worker). */
  readonly release: (lease: PartitionRef, now: number) => Effect.Effect<void, LandscapeError>
  readonly fail: (lease: PartitionRef, now: number) => Effect.Effect<void, LandscapeError>
  /** Completes the partition with its final checkpoint; returns how many of the run's partitions are not completed. */
  readonly complete: (checkpoint: PartitionCheckpoint, now: number) => Effect.Effect<number, LandscapeError>
  readonly list: (runId: string) => Effect.Effect<ReadonlyArray<PartitionStatus>, LandscapeError>
  /** The run a worker joins; `None` when it is not recorded. */
  readonly join: (runId: string) => Effect.Effect<Option.Option<PartitionedRun>, LandscapeError>
  /** What earlier attempts on the partition left open: operations among `operationIds`, rows committed by no batch. */
  readonly leftovers: (lease: PartitionLease, operationIds: ReadonlyArray<string>) => Effect.Effect<PartitionLeftovers, LandscapeError>
  /**
   * Records how a distributed run ended, like `finishRun`, but only if it is still `running`
   * (several workers may see it done): `false` when it had already ended.
   */
  readonly finishRun: (run: RunEnd) => Effect.Effect<boolean, LandscapeError>
  /**
   * Records how an operation ended, like `completeOperation`, but only if it is still `running`
   * (a takeover and the worker it took over from may both close one): `false` when it had ended.
   */
  readonly completeOperation: (operation: OperationEnd) => Effect.Effect<boolean, LandscapeError>
}

/**
 * Checkpoints of single-process runs and their resume (`Orchestrator.resume`). A run's checkpoint
 * is begun once its sinks are open and then written with each committed batch (`recordBatch`);
 * every write after the first is fenced by the checkpoint's `attempt`. Times are epoch
 * milliseconds of the caller's clock.
 *
 * @since 0.4.0
 */
export interface RunCheckpointsService {
  /** Records the run's first checkpoint (attempt 1). */
  readonly begin: (checkpoint: RunCheckpoint, now: number) => Effect.Effect<void, LandscapeError>
  /** Writes a checkpoint alone; refused (`runCheckpoint`) when the run is no longer at `checkpoint.attempt`. */
  readonly write: (checkpoint: RunCheckpoint, now: number) => Effect.Effect<void, LandscapeError>
  /** The run, its recorded configuration and node ids, and its checkpoint; `None` when the run is not recorded. */
  readonly read: (runId: string) => Effect.Effect<Option.Option<ResumePoint>, LandscapeError>
  /**
   * Reopens an `interrupted` or `failed` run for attempt `attempt + 1`, owned by this process, as
   * one link of its chain: closes `failed` what the stopped attempt left open (node states,
   * operations, tokens of rows no batch committed) and keeps how the run had ended in
   * `run_resumes`. Fails with `LandscapeError` (`resumeRun`) when the run is not recorded, is
   * `running` or `completed`, has no checkpoint, or is no longer at `attempt` (resumed by another
   * process).
   */
  readonly resume: (request: { readonly runId: string; readonly attempt: number; readonly resumedAt: number }) => Effect.Effect<ResumedRun, LandscapeError>
}

/**
 * A lease as its holder names it, for the fenced writes.
 *
 * @since 0.3.0
 */
export interface PartitionRef {
  readonly runId: string
  readonly index: number
  readonly owner: string
  readonly attempt: number
}
