/**
 * One attempt of a single-process run, new (`Orchestrator.run`) or resumed (`Orchestrator.resume`):
 * opens the run's operations and sinks (continuing a resumed run's output from its checkpoint),
 * writes the run's checkpoint once the sinks are open and then with every committed batch, runs
 * the flow, and records how the attempt ended: `completed`, `failed` or `interrupted`, with the
 * rows an external call flushed early and no batch committed closed, and `RunFinished` emitted.
 *
 * The run itself (`beginRun`, or the resume's claim) is recorded by the caller before.
 *
 * @internal
 */
import { Cause, Duration, Effect, Exit, Predicate, Schedule } from "effect"
import type { RunCheckpoint } from "../../Landscape.js"
import type { Progress, RunOptions, RunSummary } from "../../Orchestrator.js"
import type { SinkDetails } from "../../Sink.js"
import type { Phase, RunStatus } from "../../TelemetryEvent.js"
import { describeError } from "../describe.js"
import { type AggregationState, Aggregations } from "./aggregation.js"
import * as Commit from "./commit.js"
import type { RunContext } from "./context.js"
import * as Events from "./events.js"
import * as Flow from "./flow.js"
import { emptyBatch } from "./journal.js"
import * as Operations from "./operations.js"

/** Where an attempt starts. */
export interface Start {
  /** 1 for a new run, one more for each resume. */
  readonly attempt: number
  /** Counts committed before this attempt. */
  readonly counts: Commit.Counts
  /** The first source index this attempt reads. */
  readonly position: number
  /** Source indexes this attempt does not process (recorded by the attempt before, closed by the resume). */
  readonly skip: ReadonlySet<number>
  /** A resumed run: its checkpoint's `state` (see {@link CheckpointState}), to continue the sinks' output and the source. */
  readonly state: unknown
  /** Milliseconds the run ran before this attempt (the attempts before it, summed). */
  readonly durationBeforeMs: number
  /** Aggregation batches the resume closed (their flush had begun): not restored from the checkpoint. */
  readonly closedBatches?: ReadonlySet<string>
}

/** How often a running run refreshes its heartbeat (see `Landscape.SqliteOptions.staleRunAfter`). */
const heartbeatEvery = Duration.seconds(5)

/** Longest stretch the engine works before it lets the event loop run, milliseconds (`bench/engine.ts` measures the loop's delay). */
const yieldAfterMs = 4

const messageOf = (cause: Cause.Cause<unknown>): string =>
  Cause.isInterruptedOnly(cause) ? "interrupted" : describeError(Cause.squash(cause))

const statusOf = (exit: Exit.Exit<unknown, unknown>): Exclude<RunStatus, "running"> =>
  Exit.isSuccess(exit) ? "completed" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

/**
 * What a run's checkpoint keeps besides its position and counts: each sink's checkpoint (what its
 * writer's `checkpoint` returned at the last committed batch), the source's cursor there, and the
 * aggregations' open batches (their members' rows, so a resume flushes them).
 */
interface CheckpointState {
  readonly sinks?: Readonly<Record<string, SinkDetails>>
  readonly source?: unknown
  readonly aggregations?: AggregationState
}

/** A stored checkpoint state as {@link CheckpointState} (a missing or malformed part is left out). */
const stateOf = (state: unknown): CheckpointState => {
  if (!Predicate.isRecord(state)) return {}
  const sinks: Record<string, SinkDetails> = {}
  if (Predicate.isRecord(state.sinks)) for (const [name, details] of Object.entries(state.sinks)) if (Predicate.isRecord(details)) sinks[name] = details
  return {
    ...(Predicate.isRecord(state.sinks) ? { sinks } : {}),
    ...(state.source === undefined ? {} : { source: state.source }),
    // Checked member by member when restored (`Aggregations`).
    ...(Predicate.isRecord(state.aggregations) ? { aggregations: state.aggregations as AggregationState } : {})
  }
}

/** Fresh counts for a new run of `ctx`'s plan. */
export const emptyCounts = (ctx: RunContext): Commit.Counts => ({
  read: 0,
  quarantined: 0,
  failed: 0,
  perSink: Object.fromEntries(ctx.plan.sinks.slice(0, -1).map((s) => [s.name, 0]))
})

/** Runs one attempt of `ctx`'s run from `start`, to its summary; fails with what fails a run. */
export const execute = (ctx: RunContext, options: RunOptions, start: Start) =>
  Effect.gen(function* () {
    const { clock, landscape, plan, runId, telemetry } = ctx
    const startNanos = clock.unsafeCurrentTimeNanos()
    const elapsed = () => Number(clock.unsafeCurrentTimeNanos() - startNanos) / 1e6
    const counts: Commit.Counts = { ...start.counts, perSink: { ...start.counts.perSink } }
    const base = () => Events.lifecycle(ctx.trace, clock.unsafeCurrentTimeMillis(), runId)
    const phase = (p: Phase) => telemetry.emit({ _tag: "PhaseChanged", ...base(), phase: p })
    // One check per batch: the engine builds no row event the hub would filter out.
    const wantsRowEvents = () => telemetry.accepts("RowCreated")

    const body = Effect.scoped(Effect.gen(function* () {
      if (start.attempt === 1) {
        yield* phase("registering")
        yield* landscape.registerNodes(plan.nodes(runId))
      }
      const resumed = stateOf(start.state)
      const ops = yield* Operations.open(ctx, () => counts.read, {
        ...(resumed.sinks === undefined ? {} : { sinks: resumed.sinks }),
        sourceCursor: resumed.source
      })
      const aggregations = plan.steps.some((s) => s.step._tag === "Aggregate") ? new Aggregations(ctx, resumed.aggregations, start.closedBatches) : undefined
      // Where the source stands: a batch of an aggregation's flush only reads no source row and leaves it.
      let position = start.position
      let cursor = resumed.source
      const checkpointAt = (c: Commit.Counts): RunCheckpoint => ({
        _tag: "RunCheckpoint",
        runId,
        attempt: start.attempt,
        position,
        rowsRead: c.read,
        rowsQuarantined: c.quarantined,
        rowsFailed: c.failed,
        rowsPerSink: { ...c.perSink },
        state: {
          sinks: ops.checkpoint().sinks,
          ...(cursor === undefined ? {} : { source: cursor }),
          ...(aggregations === undefined ? {} : { aggregations: aggregations.state() })
        } satisfies CheckpointState
      })
      const first = checkpointAt(counts)
      yield* start.attempt === 1 ? landscape.checkpoints.begin(first, clock.unsafeCurrentTimeMillis()) : landscape.checkpoints.write(first, clock.unsafeCurrentTimeMillis())
      yield* Effect.forkScoped(landscape.heartbeat(runId).pipe(
        Effect.catchAll(ctx.fatal.report),
        Effect.repeat(Schedule.spaced(heartbeatEvery))
      ))
      yield* phase("processing")
      const progress = (): Progress => ({ runId, rowsDone: counts.read, quarantined: counts.quarantined, elapsedMs: start.durationBeforeMs + elapsed() })
      const commit = (batch: ReadonlyArray<Commit.Processed>) =>
        Effect.zipRight(
          Commit.commit(ctx, ops, counts, batch, (next) => {
            if (next.position !== undefined) {
              position = next.position
              cursor = next.cursor
            }
            return checkpointAt(next.counts)
          }, aggregations),
          // Built after the commit, so it reports the rows this batch committed too.
          Effect.suspend(() => options.onProgress?.(progress()) ?? Effect.void)
        )
      const from = start.position
      const { skip } = start
      yield* Flow.run(ctx, ops.records, {
        concurrency: Math.max(1, options.concurrency ?? 4),
        batchSize: Math.max(1, options.batchSize ?? 256),
        batchWindow: Duration.decode(options.batchWindow ?? "1 second"),
        yieldAfterMs,
        onBatch: () => void (ctx.wantsRowEvents = wantsRowEvents()),
        ...(from === 0 && skip.size === 0 ? {} : { select: (i: number) => i >= from && !skip.has(i) }),
        ...(ops.readsFromCursor ? { firstIndex: from } : {}),
        ...(aggregations === undefined ? {} : { aggregations })
      }, commit)
      yield* ctx.fatal.settle
      yield* phase("finalizing")
      yield* ops.complete
    }))

    /** Records how the attempt ended (closing the node states of rows flushed but not committed) and emits `RunFinished`. */
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
        const durationMs = start.durationBeforeMs + elapsed()
        const totals = { rowsRead: counts.read, rowsQuarantined: counts.quarantined, ...(error === undefined ? {} : { error }) }
        yield* landscape.finishRun({ runId, status, finishedAt: clock.unsafeCurrentTimeMillis(), durationMs, ...totals })
        yield* telemetry.emit({ _tag: "RunFinished", ...base(), status, durationMs, ...totals })
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
        attempt: start.attempt,
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
