/**
 * One run over several worker processes (or machines) that share a Landscape, usually PostgreSQL
 * (`LandscapePg`): the run's source is split into partitions, each worker claims partitions with a
 * lease it renews (a heartbeat), and a worker that dies loses nothing: when its lease expires
 * another worker takes its partition over from the last checkpoint, committed with each batch.
 *
 * ```ts
 * // once, anywhere: records the run and its partitions
 * const { runId } = yield* DistributedRun.start(pipeline, { partitions: 12 })
 * // in each worker process, with the same pipeline
 * const summary = yield* DistributedRun.work(pipeline, { runId })
 * // anywhere: wait for the run's end
 * const run = yield* DistributedRun.awaitRun(runId)
 * ```
 *
 * - **Partitions.** Partition `k` of `n` holds the source records whose index modulo `n` is `k`;
 *   every worker reads the source and keeps its partition's records (rows keep their index in the
 *   source, so the Landscape's `UNIQUE (run_id, row_index)` holds a row once whichever worker
 *   recorded it). Sinks write each partition apart (`Sink.resumable`; file sinks write
 *   `<name>.part-<k><ext>`), so a distributed run's output is one file per partition and sink.
 * - **Leases and fencing.** Claims use `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL; each claim
 *   increments the partition's `attempt`, and every checkpoint is written in its batch's
 *   transaction only while the lease is still the worker's at that attempt: a worker that lost its
 *   lease (a long pause, a partition) has its batch refused and stops that partition. Why this and
 *   not `@effect/cluster`: see docs/distributed-runs.md (measured).
 * - **Exactly once.** A checkpoint holds the next source index, the counts, each sink's byte offset
 *   and the attempt's operations; a takeover closes the operations left open, cuts each sink's
 *   output back to the checkpoint, and goes on from there. Rows that an external call recorded
 *   early and no batch committed are closed `failed` and not processed again (their call is not
 *   made twice).
 * - **The end.** The worker that completes the last partition records the run `completed` with the
 *   totals of every partition and emits `RunFinished`; a partition that fails fails the run. An
 *   interrupted worker gives its partition back at once. A run with no live worker left is found by
 *   its heartbeat (`staleRunAfter` of the Landscape layers) and marked `interrupted`.
 * - **One trace.** `start` records the run's span context (`traceparent`); every worker's
 *   `sightline.partition` spans are its children, so the whole run is one W3C trace across processes.
 *
 * @since 0.3.0
 */
import { Clock, Duration, Effect, Option, Tracer } from "effect"
import { hostname } from "node:os"
import type { CallScope } from "./CallScope.js"
import * as EventLoop from "./internal/eventLoop.js"
import { newId } from "./internal/ids.js"
import * as Attempt from "./internal/run/attempt.js"
import { makeContextFor } from "./internal/run/context.js"
import * as Events from "./internal/run/events.js"
import * as Plan from "./internal/run/plan.js"
import { Landscape, LandscapeError, type PartitionedRun, type RunRow } from "./Landscape.js"
import type { RunError, RunOptions } from "./Orchestrator.js"
import { type Pipeline, PipelineDefinitionError } from "./Pipeline.js"
import { Telemetry } from "./Telemetry.js"
import { formatTraceparent, parseTraceparent } from "./TraceContext.js"
import type { RunStatus } from "./TelemetryEvent.js"

/**
 * @since 0.3.0
 */
export interface StartOptions {
  /**
   * How many partitions the source is split into: at least the number of workers, more to spread
   * the work of a worker that dies (its partitions are taken over one by one).
   */
  readonly partitions: number
}

/**
 * A distributed run as `start` recorded it.
 *
 * @since 0.3.0
 */
export interface Started {
  readonly runId: string
  readonly pipeline: string
  readonly partitions: number
  /** W3C `traceparent` of the run's span: the parent of every worker's spans. */
  readonly traceparent: string
}

/**
 * @since 0.3.0
 */
export interface WorkOptions extends Pick<RunOptions, "concurrency" | "batchSize" | "batchWindow"> {
  /** The run `start` recorded. */
  readonly runId: string
  /** This worker's name in the leases. Default `<host>:<pid>:<random>`. */
  readonly workerId?: string
  /** How long a lease lasts without being renewed: how soon a dead worker's partition is taken over. Default 10 seconds. */
  readonly lease?: Duration.DurationInput
  /** How often the lease is renewed. Default a quarter of `lease`. */
  readonly renewEvery?: Duration.DurationInput
  /** How often a worker with nothing to claim looks again (for a partition whose lease expired, or the run's end). Default 500 ms. */
  readonly pollInterval?: Duration.DurationInput
  /** Called after each partition this worker completes. */
  readonly onPartition?: (done: PartitionDone) => Effect.Effect<void>
}

/**
 * A partition a worker completed.
 *
 * @since 0.3.0
 */
export interface PartitionDone {
  readonly index: number
  /** 1 for the first claim, more for a partition this worker took over. */
  readonly attempt: number
  /** Source rows the partition has recorded (by every attempt). */
  readonly rowsRead: number
  /** The source index this worker began at (0 unless it took the partition over). */
  readonly resumedAt: number
}

/**
 * What one worker did.
 *
 * @since 0.3.0
 */
export interface WorkerSummary {
  readonly runId: string
  readonly workerId: string
  /** Partitions this worker completed, in the order it completed them. */
  readonly partitions: ReadonlyArray<PartitionDone>
  /** Partitions this worker lost to another (its lease was taken over while it still worked). */
  readonly lost: number
  /** How the run stood when this worker stopped (it stops when the run has ended). */
  readonly runStatus: RunStatus
  /** `true` when this worker recorded the run's end. */
  readonly finishedRun: boolean
}

const describeSinks = (plan: Plan.Plan): string | undefined => {
  const sink = plan.sinks.find((s) => s.sink.resumable !== true)
  return sink === undefined
    ? undefined
    : `the sink "${sink.name}" cannot take part in a distributed run: it cannot continue a partition another worker began (see Sink.resumable; file sinks can)`
}

const definitionError = (pipeline: string, message: string) => new PipelineDefinitionError({ pipeline, message: `Pipeline "${pipeline}": ${message}` })

/**
 * Records a distributed run of `pipeline`: the run (`running`, kept alive by its workers'
 * heartbeats), its nodes and `options.partitions` pending partitions, and emits `RunStarted`. The
 * run's span (`sightline.run`) ends here; workers continue its trace. Fails with
 * `PipelineDefinitionError` before recording anything when a sink is not resumable, the
 * partition count is not a positive integer, or the pipeline has an aggregation, with `LandscapeError` when the Landscape cannot be written.
 *
 * @since 0.3.0
 */
export const start = <R>(pipeline: Pipeline<R>, options: StartOptions): Effect.Effect<Started, LandscapeError | PipelineDefinitionError, Landscape | Telemetry> =>
  Effect.gen(function* () {
    const plan = yield* Plan.make(pipeline)
    const aggregation = plan.steps.find((s) => s.step._tag === "Aggregate")
    const problem = !Number.isInteger(options.partitions) || options.partitions < 1
      ? `a distributed run needs a positive whole number of partitions, not ${options.partitions}`
      : aggregation !== undefined
      ? `the aggregation "${aggregation.step.name}" needs every row in one process; a distributed run's workers each see one partition (run it with Orchestrator.run)`
      : describeSinks(plan)
    if (problem !== undefined) return yield* definitionError(plan.pipeline, problem)
    const landscape = yield* Landscape
    const telemetry = yield* Telemetry
    const span = yield* Effect.orDie(Effect.currentSpan)
    const runId = newId()
    const now = yield* Clock.currentTimeMillis
    const trace = yield* Events.currentTrace
    const traceparent = formatTraceparent(span.traceId, span.spanId, span.sampled ? 1 : 0)
    yield* Effect.annotateCurrentSpan({ "sightline.run.id": runId, "sightline.pipeline": plan.pipeline, "sightline.run.partitions": options.partitions })
    yield* landscape.beginRun({
      runId,
      pipeline: plan.pipeline,
      config: plan.config,
      telemetryEnabled: telemetry.enabled,
      telemetryGranularity: telemetry.granularity,
      startedAt: now,
      traceId: trace.traceId,
      owner: "workers"
    })
    const recorded = Effect.gen(function* () {
      yield* landscape.registerNodes(plan.nodes(runId))
      yield* landscape.partitions.create(runId, options.partitions, traceparent, now)
    })
    yield* Effect.onError(recorded, (cause) =>
      Effect.ignoreLogged(landscape.finishRun({
        runId, status: "failed", finishedAt: now, durationMs: 0, rowsRead: 0, rowsQuarantined: 0, error: `the run could not be set up: ${cause}`
      })))
    yield* telemetry.emit({ _tag: "RunStarted", ...Events.lifecycle(trace, now, runId), pipeline: plan.pipeline, configHash: plan.configHash })
    return { runId, pipeline: plan.pipeline, partitions: options.partitions, traceparent }
  }).pipe(Effect.withSpan("sightline.run", { kind: "internal" }))

/** Records the run's end once (the first worker to get there), with the totals of every partition, and emits `RunFinished`. */
const finishRun = (run: PartitionedRun, status: "completed" | "failed", error?: string) =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const telemetry = yield* Telemetry
    const partitions = yield* landscape.partitions.list(run.runId)
    const now = yield* Clock.currentTimeMillis
    const totals = {
      rowsRead: partitions.reduce((n, p) => n + p.rowsRead, 0),
      rowsQuarantined: partitions.reduce((n, p) => n + p.rowsQuarantined, 0)
    }
    const durationMs = now - run.startedAt
    const finished = yield* landscape.partitions.finishRun({ runId: run.runId, status, finishedAt: now, durationMs, ...totals, ...(error === undefined ? {} : { error }) })
    if (finished) {
      const trace = yield* Events.currentTrace
      yield* telemetry.emit({ _tag: "RunFinished", ...Events.lifecycle(trace, now, run.runId), status, durationMs, ...totals, ...(error === undefined ? {} : { error }) })
    }
    return finished
  })

/** The run's span from its `traceparent`, to parent every span of this worker. */
const runSpan = (traceparent: string | null): Option.Option<Tracer.ExternalSpan> =>
  Option.map(parseTraceparent(traceparent ?? undefined), (p) => Tracer.externalSpan({ traceId: p.traceId, spanId: p.parentId, sampled: (p.flags & 0x01) === 1 }))

const defaultWorkerId = () => `${hostname()}:${process.pid}:${Math.random().toString(16).slice(2, 8)}`

/**
 * Works on the distributed run `options.runId` until it has ended: claims a partition, runs it
 * (continuing a takeover from its checkpoint), completes it, and so on; with nothing to claim, it
 * waits for a lease to expire or the run to end. The worker completing the last partition records
 * the run `completed`. `pipeline` must be the one the run was started with (same configuration
 * hash), as built in this process (its requirements are provided here).
 *
 * Fails with `RunError`: a `PipelineDefinitionError` (not the run's pipeline, or the run is not
 * recorded), or what failed a partition (its source, a sink, the Landscape): the partition and the
 * run are then recorded `failed` and the other workers stop. Interrupted, the worker gives its
 * partition back (with its checkpoint) for another to continue at once.
 *
 * @since 0.3.0
 */
export const work = <R>(
  pipeline: Pipeline<R>,
  options: WorkOptions
): Effect.Effect<WorkerSummary, RunError, Landscape | Telemetry | Exclude<R, CallScope>> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const runId = options.runId
    const joined = yield* landscape.partitions.join(runId)
    if (Option.isNone(joined)) return yield* definitionError(pipeline.name, `run ${runId} is not recorded in this Landscape`)
    const run = joined.value
    if (run.partitions === 0) return yield* definitionError(pipeline.name, `run ${runId} is not a distributed run (it has no partitions; see DistributedRun.start)`)
    const plan = yield* Plan.make(pipeline, new Map(Object.entries(run.nodeIds)))
    if (plan.configHash !== run.configHash) {
      return yield* definitionError(plan.pipeline, `this worker's pipeline is not the one run ${runId} was started with (configuration hash ${plan.configHash.slice(0, 12)}… against ${run.configHash.slice(0, 12)}…)`)
    }
    const captured = yield* Effect.context<Exclude<R, CallScope>>()
    const workerId = options.workerId ?? defaultWorkerId()
    const parent = runSpan(run.traceparent)
    return yield* Effect.withSpan(workLoop(run, plan, makeContextFor(captured), workerId, options), "sightline.worker", {
      kind: "internal",
      attributes: { "sightline.run.id": runId, "sightline.worker.id": workerId },
      ...(Option.isSome(parent) ? { parent: parent.value } : {})
    })
  }).pipe(Effect.withScheduler(EventLoop.scheduler))

/** Claims, runs and completes partitions until the run has ended. */
const workLoop = (run: PartitionedRun, plan: Plan.Plan, contextFor: Attempt.AttemptEnv["contextFor"], workerId: string, options: WorkOptions) =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const telemetry = yield* Telemetry
    const clock = yield* Effect.clock
    const runId = run.runId
    const leaseMs = Duration.toMillis(Duration.decode(options.lease ?? "10 seconds"))
    const env: Attempt.AttemptEnv = {
      plan,
      landscape,
      telemetry,
      clock,
      contextFor,
      flow: {
        concurrency: Math.max(1, options.concurrency ?? 4),
        batchSize: Math.max(1, options.batchSize ?? 256),
        batchWindow: Duration.decode(options.batchWindow ?? "1 second"),
        yieldAfterMs: 4
      },
      leaseMs,
      renewEveryMs: options.renewEvery === undefined ? leaseMs / 4 : Duration.toMillis(Duration.decode(options.renewEvery))
    }
    const pollInterval = Duration.decode(options.pollInterval ?? "500 millis")
    const done: Array<PartitionDone> = []
    let lost = 0
    let finishedRun = false

    while (true) {
      const status = Option.getOrUndefined(yield* landscape.partitions.join(runId))?.status
      if (status !== "running") return { runId, workerId, partitions: done, lost, runStatus: status ?? "failed", finishedRun } satisfies WorkerSummary
      const claimed = yield* landscape.partitions.claim(runId, workerId, leaseMs, clock.unsafeCurrentTimeMillis())
      if (Option.isSome(claimed)) {
        const lease = claimed.value
        const result = yield* Attempt.run(env, lease).pipe(
          Effect.withSpan("sightline.partition", {
            kind: "internal",
            attributes: { "sightline.run.id": runId, "sightline.partition.index": lease.index, "sightline.partition.attempt": lease.attempt }
          }),
          Effect.tapError((e) => Effect.ignoreLogged(finishRun(run, "failed", `partition ${lease.index} failed on worker ${workerId}: ${e.message}`)))
        )
        if (result._tag === "Lost") {
          lost += 1
          yield* Effect.logWarning(result.message)
          continue
        }
        done.push({ index: lease.index, attempt: lease.attempt, rowsRead: result.rowsRead, resumedAt: lease.position })
        if (options.onPartition) yield* options.onPartition(done[done.length - 1]!)
        if (result.remaining === 0) finishedRun = (yield* finishRun(run, "completed")) || finishedRun
        continue
      }
      const partitions = yield* landscape.partitions.list(runId)
      const failed = partitions.find((p) => p.status === "failed")
      if (failed !== undefined) finishedRun = (yield* finishRun(run, "failed", `partition ${failed.index} failed (worker ${failed.owner})`)) || finishedRun
      else if (partitions.every((p) => p.status === "completed")) finishedRun = (yield* finishRun(run, "completed")) || finishedRun
      else yield* Effect.sleep(pollInterval)
    }
  })

/**
 * Waits until the run has ended (polling the Landscape every `pollInterval`, default 500 ms) and
 * returns it as recorded.
 *
 * @since 0.3.0
 */
export const awaitRun = (runId: string, options: { readonly pollInterval?: Duration.DurationInput } = {}): Effect.Effect<RunRow, LandscapeError, Landscape> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    while (true) {
      const run = yield* landscape.getRun(runId)
      if (Option.isNone(run)) return yield* new LandscapeError({ operation: "getRun", message: `Landscape getRun failed: run ${runId} is not recorded` })
      if (run.value.status !== "running") return run.value
      yield* Effect.sleep(Duration.decode(options.pollInterval ?? "500 millis"))
    }
  })
