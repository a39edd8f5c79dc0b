/**
 * Runs pipelines: records the run, its nodes, rows, tokens, node states, routing decisions and
 * operations in the Landscape, and emits the engine's telemetry after each record.
 *
 * `run` requires `Landscape` and `Telemetry` in its type, so a run without both does not compile
 * (DESIGN.md invariant 1). A `LandscapeError` is never recovered: the run's `Exit` names it
 * (invariant 3). Every run ends recorded `completed`, `failed` or `interrupted`, with its
 * operations closed and `RunFinished` emitted (invariant 9). Rows are processed with bounded
 * concurrency and reach their sinks in source order.
 *
 * @since 0.1.0
 */
import type { Teardown } from "@effect/platform/Runtime"
import { type Context, type Duration, Effect, Option, Schema, type Tracer } from "effect"
import { CallScope } from "./CallScope.js"
import * as EventLoop from "./internal/eventLoop.js"
import { newId } from "./internal/ids.js"
import * as Changes from "./internal/run/changes.js"
import * as RunContext from "./internal/run/context.js"
import { makeContextFor } from "./internal/run/context.js"
import * as Events from "./internal/run/events.js"
import * as Execute from "./internal/run/execute.js"
import * as Main from "./internal/run/main.js"
import * as Plan from "./internal/run/plan.js"
import { Landscape, type LandscapeError, type RunTotals } from "./Landscape.js"
import type { Pipeline, PipelineDefinitionError } from "./Pipeline.js"
import type { SinkError } from "./Sink.js"
import type { SourceError } from "./Source.js"
import { Telemetry } from "./Telemetry.js"

/**
 * What a completed run reports.
 *
 * @since 0.1.0
 */
export interface RunSummary {
  readonly runId: string
  readonly pipeline: string
  readonly status: "completed"
  /** 1, or for a resumed run the attempt that completed it (2 for the first resume, …). */
  readonly attempt: number
  /** Source records recorded in the Landscape (valid or not), by every attempt. */
  readonly rowsRead: number
  /** Rows written to each named sink. */
  readonly rowsPerSink: Readonly<Record<string, number>>
  /** Rows written to the quarantine sink. */
  readonly quarantined: number
  /** Wall time of the run (engine `Clock`), milliseconds; of a resumed run, its attempts' summed. */
  readonly durationMs: number
  readonly telemetryEnabled: boolean
  /** Tokens and cost (USD) of the run's LLM calls, for the run and per node (zero when there were none). */
  readonly llm: RunTotals
}

/**
 * Progress, reported after each batch of rows is committed.
 *
 * @since 0.1.0
 */
export interface Progress {
  readonly runId: string
  /** Rows committed so far. */
  readonly rowsDone: number
  readonly quarantined: number
  /** Milliseconds since the run began (engine `Clock`). */
  readonly elapsedMs: number
}

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** Rows whose steps wait (on I/O, a timer…) running at once. Default 4. Sink output stays in source order whatever the value. */
  readonly concurrency?: number
  /** Rows per Landscape transaction and sink write. Default 256. */
  readonly batchSize?: number
  /** Longest time a processed row waits for its batch to be committed. Default 1 second. */
  readonly batchWindow?: Duration.DurationInput
  /** Called after every committed batch. */
  readonly onProgress?: (progress: Progress) => Effect.Effect<void>
  /** Where the run sits in a larger piece of work: its parent run and the caller's trace. */
  readonly parent?: RunParent
}

/**
 * The parent of a run, for hierarchical runs (an orchestrator run whose step starts worker runs,
 * a service that starts a run per request): the run joins the caller's trace and records its
 * parent, so the whole tree is one trace and `Landscape.runs({ parentRunId })` lists a run's children.
 *
 * @since 0.2.0
 */
export interface RunParent {
  /**
   * The run that started this one, stored as `runs.parent_run_id`. Default: the run whose step
   * (or source or sink) is calling `run`, when there is one.
   */
  readonly runId?: string
  /**
   * The caller's span: the run's span (`sightline.run`) becomes its child, in its trace, e.g. the
   * `parent` of `TraceContext.fromHeaders(...)` for a W3C `traceparent` received from elsewhere.
   * Default: the current span, when there is one (else the run starts a new trace).
   */
  readonly span?: Tracer.AnySpan
}

/**
 * Why a run did not complete: the Landscape could not be written (fatal, never recovered), the
 * source could not be read, a sink could not be written, or the pipeline's definition is
 * inconsistent (raised before anything is recorded).
 *
 * @since 0.1.0
 */
export type RunError = LandscapeError | SourceError | SinkError | PipelineDefinitionError

/**
 * Why `resume` refused to continue a run, before changing anything: the run is not recorded
 * (`unknownRun`), has `completed`, is `running` (its process may be alive: a run whose process
 * died is marked `interrupted` when its Landscape is next opened), has no checkpoint
 * (`noCheckpoint`: recorded before checkpoints existed, or a distributed run), the pipeline differs
 * from the one the run was recorded with (`pipelineChanged`, each difference in `changes`), or a
 * sink cannot continue its output (`sinkNotResumable`, see `Sink.resumable`).
 *
 * @since 0.4.0
 * @category errors
 */
export class ResumeError extends Schema.TaggedError<ResumeError>()("ResumeError", {
  runId: Schema.String,
  reason: Schema.Literal("unknownRun", "completed", "running", "noCheckpoint", "pipelineChanged", "sinkNotResumable"),
  message: Schema.String,
  /** What differs, one line each (`pipelineChanged`), e.g. `transform "enrich": configuration changed from {…} to {…}`. */
  changes: Schema.Array(Schema.String)
}) {}

/**
 * @since 0.4.0
 */
export type ResumeOptions = Omit<RunOptions, "parent">

const runPlanned = Effect.fn("sightline.run")(function* (
  pipeline: Pipeline<unknown>,
  options: RunOptions,
  captured: Context.Context<never>,
  parentRunId: string | undefined
) {
  const plan = yield* Plan.make(pipeline)
  const landscape = yield* Landscape
  const telemetry = yield* Telemetry
  const clock = yield* Effect.clock
  const runId = newId()
  yield* Effect.annotateCurrentSpan({
    "sightline.run.id": runId,
    "sightline.pipeline": plan.pipeline,
    ...(parentRunId === undefined ? {} : { "sightline.run.parent_id": parentRunId })
  })
  const ctx = yield* RunContext.make({ runId, plan, landscape, telemetry, clock, contextFor: makeContextFor(captured) })
  const startedAt = clock.unsafeCurrentTimeMillis()
  yield* landscape.beginRun({
    runId,
    pipeline: plan.pipeline,
    config: plan.config,
    telemetryEnabled: telemetry.enabled,
    telemetryGranularity: telemetry.granularity,
    startedAt,
    traceId: ctx.trace.traceId,
    ...(parentRunId === undefined ? {} : { parentRunId })
  })
  yield* telemetry.emit({ _tag: "RunStarted", ...Events.lifecycle(ctx.trace, startedAt, runId), pipeline: plan.pipeline, configHash: plan.configHash })
  return yield* Execute.execute(ctx, options, {
    attempt: 1,
    counts: Execute.emptyCounts(ctx),
    position: 0,
    skip: new Set(),
    state: undefined,
    durationBeforeMs: 0
  })
})

/** The checks of `resume` before it changes anything: the run, its checkpoint, the pipeline, the sinks. */
const resumable = (pipeline: Pipeline<unknown>, runId: string) =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const refuse = (reason: ResumeError["reason"], message: string, changes: ReadonlyArray<string> = []) =>
      new ResumeError({ runId, reason, message: `cannot resume run ${runId}: ${message}`, changes })
    const found = yield* landscape.checkpoints.read(runId)
    if (Option.isNone(found)) return yield* refuse("unknownRun", "it is not recorded in this Landscape")
    const point = found.value
    if (point.run.status === "completed") return yield* refuse("completed", "it has completed")
    if (point.run.status === "running") {
      return yield* refuse("running", `it is running (process ${point.run.ownerPid ?? "?"} on ${point.run.ownerHost ?? "?"}); ` +
        "a run whose process died is marked interrupted when its Landscape is next opened")
    }
    if (point.checkpoint === undefined) return yield* refuse("noCheckpoint", "it has no checkpoint (recorded before Sightline 0.4, or a distributed run: see DistributedRun.work)")
    const plan = yield* Plan.make(pipeline, new Map(Object.entries(point.nodeIds)))
    const changes = Changes.between(point.config, plan.config)
    if (changes.length > 0) return yield* refuse("pipelineChanged", `the pipeline differs from the one it was recorded with: ${changes.join("; ")}`, changes)
    const sink = plan.sinks.find((s) => s.sink.resumable !== true)
    if (sink !== undefined) return yield* refuse("sinkNotResumable", `the sink "${sink.name}" cannot continue its output (see Sink.resumable; file sinks can)`)
    return { plan, checkpoint: point.checkpoint }
  })

const resumePlanned = Effect.fn("sightline.run")(function* (pipeline: Pipeline<unknown>, runId: string, options: ResumeOptions, captured: Context.Context<never>) {
  const { checkpoint, plan } = yield* resumable(pipeline, runId)
  const landscape = yield* Landscape
  const telemetry = yield* Telemetry
  const clock = yield* Effect.clock
  const resumed = yield* landscape.checkpoints.resume({ runId, attempt: checkpoint.attempt, resumedAt: clock.unsafeCurrentTimeMillis() })
  const from = resumed.checkpoint
  yield* Effect.annotateCurrentSpan({ "sightline.run.id": runId, "sightline.pipeline": plan.pipeline, "sightline.run.attempt": from.attempt })
  const ctx = yield* RunContext.make({ runId, plan, landscape, telemetry, clock, contextFor: makeContextFor(captured) })
  yield* telemetry.emit({ _tag: "RunStarted", ...Events.lifecycle(ctx.trace, clock.unsafeCurrentTimeMillis(), runId), pipeline: plan.pipeline, configHash: plan.configHash })
  const fresh = Execute.emptyCounts(ctx)
  return yield* Execute.execute(ctx, options, {
    attempt: from.attempt,
    counts: { read: from.rowsRead, quarantined: from.rowsQuarantined, failed: from.rowsFailed, perSink: { ...fresh.perSink, ...from.rowsPerSink } },
    position: from.position,
    skip: new Set(resumed.skipped),
    state: from.state,
    durationBeforeMs: resumed.previous.durationMs ?? 0,
    closedBatches: new Set(resumed.closedBatches)
  })
})

/**
 * Runs `pipeline` to completion and returns its summary. Fails with {@link RunError}; in every case
 * the run is recorded `failed` (as far as the Landscape still works) and `RunFinished` is emitted
 * with the reason. Interrupted (a signal through {@link runMain}, or the caller), the run stops
 * reading, lets the batch being committed finish, drops the rest as a unit, closes every operation
 * and is recorded `interrupted`. The run's span (`sightline.run`) is a child of the current span or
 * of `options.parent.span`; a run started by another run's step records that run as its parent.
 *
 * @since 0.1.0
 */
export const run = <R>(
  pipeline: Pipeline<R>,
  options: RunOptions = {}
): Effect.Effect<RunSummary, RunError, Landscape | Telemetry | Exclude<R, CallScope>> =>
  Effect.gen(function* () {
    const captured = yield* Effect.context<Exclude<R, CallScope>>()
    const caller = yield* Effect.serviceOption(CallScope)
    const parentRunId = options.parent?.runId ?? Option.getOrUndefined(Option.map(caller, (scope) => scope.runId))
    const planned = runPlanned(pipeline, options, captured, parentRunId)
    return yield* (options.parent?.span === undefined ? planned : Effect.withParentSpan(planned, options.parent.span))
  }).pipe(
    // The event loop gets a turn at least every 4 ms of the run's work (internal/eventLoop.ts).
    Effect.withScheduler(EventLoop.scheduler)
  )

/**
 * Continues an `interrupted` (or `failed`) run from its last checkpoint, under the same run id,
 * with the same pipeline: no source row is recorded twice and none is lost, and each sink
 * continues its partial output from the last committed batch (what it held past it is cut off),
 * so a completed resume leaves the same output as a run never interrupted.
 *
 * Before changing anything, `resume` fails with {@link ResumeError} when the run cannot be resumed
 * (not recorded, `completed`, `running`, no checkpoint, a sink that cannot continue its output) or
 * the pipeline is not the one the run was recorded with: then `changes` names every difference
 * (topology, a node's configuration, sinks). Then, as one link of the run's hash chain, the run is
 * reopened (`running`, owned by this process, `attempt` one more) and what the stopped attempt
 * left open is closed `failed`; rows an external call had recorded and no batch committed are not
 * processed again (no call is made twice). From there it runs as `run` does, and fails as `run`
 * does ({@link RunError}); interrupted again, it can be resumed again.
 *
 * A source that marks its records with cursors (the CSV and JSON Lines files) is read on from the
 * checkpoint's (`Source.recordsAfter`); any other is read from its start, the records before the
 * checkpoint skipped by their index. `Landscape.verify` checks a resumed run's chain across its attempts.
 *
 * @example
 * const summary = yield* Orchestrator.resume(pipeline, runId)
 *
 * @since 0.4.0
 */
export const resume = <R>(
  pipeline: Pipeline<R>,
  runId: string,
  options: ResumeOptions = {}
): Effect.Effect<RunSummary, RunError | ResumeError, Landscape | Telemetry | Exclude<R, CallScope>> =>
  Effect.gen(function* () {
    const captured = yield* Effect.context<Exclude<R, CallScope>>()
    return yield* resumePlanned(pipeline, runId, options, captured)
  }).pipe(Effect.withScheduler(EventLoop.scheduler))

/**
 * Runs a program as the process's main fiber (`@effect/platform`'s `RunMain`): on SIGINT or SIGTERM
 * the program is interrupted, so a run in it is recorded `interrupted` and the layers' scopes close
 * (telemetry drains); the process then exits 130 or 143 (128 + the signal's number, the shell's
 * convention), 1 on a failure (logged), 0 on success. The same signal repeated within 2 seconds
 * (a wrapper such as tsx or npm relaying it) is ignored; one after that ends the process at once.
 *
 * @example
 * Orchestrator.runMain(Orchestrator.run(pipeline).pipe(Effect.provide(layers)))
 *
 * @since 0.1.0
 */
export const runMain: <A, E>(
  program: Effect.Effect<A, E>,
  options?: { readonly disableErrorReporting?: boolean; readonly disablePrettyLogger?: boolean; readonly teardown?: Teardown }
) => void = Main.runMain
