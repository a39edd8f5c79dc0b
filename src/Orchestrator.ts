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
import { Cause, type Context, Duration, Effect, Exit, Option, Schedule, type Tracer } from "effect"
import { CallScope } from "./CallScope.js"
import * as EventLoop from "./internal/eventLoop.js"
import { newId } from "./internal/ids.js"
import * as Commit from "./internal/run/commit.js"
import * as RunContext from "./internal/run/context.js"
import { makeContextFor } from "./internal/run/context.js"
import * as Events from "./internal/run/events.js"
import * as Flow from "./internal/run/flow.js"
import * as Main from "./internal/run/main.js"
import { emptyBatch } from "./internal/run/journal.js"
import * as Operations from "./internal/run/operations.js"
import * as Plan from "./internal/run/plan.js"
import { describeError } from "./internal/describe.js"
import { Landscape, type LandscapeError, type RunTotals } from "./Landscape.js"
import type { Pipeline, PipelineDefinitionError } from "./Pipeline.js"
import type { SinkError } from "./Sink.js"
import type { SourceError } from "./Source.js"
import { Telemetry } from "./Telemetry.js"
import type { Phase, RunStatus } from "./TelemetryEvent.js"

/**
 * What a completed run reports.
 *
 * @since 0.1.0
 */
export interface RunSummary {
  readonly runId: string
  readonly pipeline: string
  readonly status: "completed"
  /** Source records recorded in the Landscape (valid or not). */
  readonly rowsRead: number
  /** Rows written to each named sink. */
  readonly rowsPerSink: Readonly<Record<string, number>>
  /** Rows written to the quarantine sink. */
  readonly quarantined: number
  /** Wall time of the run (engine `Clock`), milliseconds. */
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

/** How often a running run refreshes its heartbeat (see `Landscape.SqliteOptions.staleRunAfter`). */
const heartbeatEvery = Duration.seconds(5)

/** Longest stretch the engine works before it lets the event loop run, milliseconds (`bench/engine.ts` measures the loop's delay). */
const yieldAfterMs = 4

const messageOf = (cause: Cause.Cause<unknown>): string =>
  Cause.isInterruptedOnly(cause) ? "interrupted" : describeError(Cause.squash(cause))

const statusOf = (exit: Exit.Exit<unknown, unknown>): Exclude<RunStatus, "running"> =>
  Exit.isSuccess(exit) ? "completed" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

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
  const startedAt = clock.unsafeCurrentTimeMillis()
  const startNanos = clock.unsafeCurrentTimeNanos()
  const elapsed = () => Number(clock.unsafeCurrentTimeNanos() - startNanos) / 1e6
  // One check per batch: the engine builds no row event the hub would filter out.
  const wantsRowEvents = () => telemetry.accepts("RowCreated")
  const ctx = yield* RunContext.make({ runId, plan, landscape, telemetry, clock, contextFor: makeContextFor(captured) })
  const base = () => Events.lifecycle(ctx.trace, clock.unsafeCurrentTimeMillis(), runId)
  const phase = (p: Phase) => telemetry.emit({ _tag: "PhaseChanged", ...base(), phase: p })
  const counts: Commit.Counts = { read: 0, quarantined: 0, failed: 0, perSink: Object.fromEntries(plan.sinks.slice(0, -1).map((s) => [s.name, 0])) }

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
  yield* telemetry.emit({ _tag: "RunStarted", ...base(), pipeline: plan.pipeline, configHash: plan.configHash })

  const body = Effect.scoped(Effect.gen(function* () {
    yield* phase("registering")
    yield* landscape.registerNodes(plan.nodes(runId))
    const ops = yield* Operations.open(ctx, () => counts.read)
    yield* Effect.forkScoped(landscape.heartbeat(runId).pipe(
      Effect.catchAll(ctx.fatal.report),
      Effect.repeat(Schedule.spaced(heartbeatEvery))
    ))
    yield* phase("processing")
    const commit = (batch: ReadonlyArray<Commit.Processed>) =>
      Effect.zipRight(
        Commit.commit(ctx, ops, counts, batch),
        options.onProgress?.({ runId, rowsDone: counts.read, quarantined: counts.quarantined, elapsedMs: elapsed() }) ?? Effect.void
      )
    yield* Flow.run(ctx, ops.records, {
      concurrency: Math.max(1, options.concurrency ?? 4),
      batchSize: Math.max(1, options.batchSize ?? 256),
      batchWindow: Duration.decode(options.batchWindow ?? "1 second"),
      yieldAfterMs,
      onBatch: () => void (ctx.wantsRowEvents = wantsRowEvents())
    }, commit)
    yield* ctx.fatal.settle
    yield* phase("finalizing")
    yield* ops.complete
  }))

  /** Records how the run ended (closing the node states of rows flushed but not committed) and emits `RunFinished`. */
  const finish = (exit: Exit.Exit<unknown, unknown>) =>
    Effect.gen(function* () {
      const status = statusOf(exit)
      const error = Exit.isFailure(exit) ? messageOf(exit.cause) : undefined
      if (ctx.flushed.size > 0) {
        const records = emptyBatch()
        const completedAt = clock.unsafeCurrentTimeMillis()
        for (const journal of ctx.flushed) {
          const message = status === "interrupted" ? "the run was interrupted" : `the run failed: ${error}`
          journal.abandon(records, (stateId) => ({ stateId, status: "failed", error: { kind: "run", message }, completedAt, durationMs: 0 }))
        }
        yield* landscape.recordBatch(records)
      }
      const durationMs = elapsed()
      yield* landscape.finishRun({
        runId,
        status,
        finishedAt: clock.unsafeCurrentTimeMillis(),
        durationMs,
        rowsRead: counts.read,
        rowsQuarantined: counts.quarantined,
        ...(error === undefined ? {} : { error })
      })
      yield* telemetry.emit({
        _tag: "RunFinished",
        ...base(),
        status,
        durationMs,
        rowsRead: counts.read,
        rowsQuarantined: counts.quarantined,
        ...(error === undefined ? {} : { error })
      })
      return durationMs
    })

  const completed = Effect.gen(function* () {
    yield* ctx.fatal.supervise(body)
    const llm = yield* landscape.llmUsage(runId)
    const durationMs = yield* finish(Exit.void)
    return {
      runId,
      pipeline: plan.pipeline,
      status: "completed",
      rowsRead: counts.read,
      rowsPerSink: counts.perSink,
      quarantined: counts.quarantined,
      durationMs,
      telemetryEnabled: telemetry.enabled,
      llm
    } satisfies RunSummary
  })
  return yield* completed.pipe(
    Effect.onExit((exit) =>
      Exit.isSuccess(exit) ? Effect.void : finish(exit).pipe(
        Effect.catchAll((e) => Effect.logError(`Landscape: could not record how run ${runId} ended`, e))
      )
    )
  )
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
