/**
 * What every part of one run shares: its ids, plan, services and clock, the fatal channel, the
 * pipeline's own context for plugin code, and how events are stamped.
 *
 * @internal
 */
import { type Clock, Context, Effect } from "effect"
import type { LandscapeService } from "../../Landscape.js"
import type { TelemetryService } from "../../Telemetry.js"
import * as Events from "./events.js"
import type { Trace } from "./events.js"
import * as Fatal from "./fatal.js"
import type { RowJournal } from "./journal.js"
import * as RunMetrics from "./metrics.js"
import type { Plan } from "./plan.js"
import { CallRecorder, type CallRecorderService } from "./recorder.js"
import { CallScope, type OperationScope, type StateScope } from "../../CallScope.js"

export interface RunContext {
  readonly runId: string
  readonly plan: Plan
  readonly landscape: LandscapeService
  readonly telemetry: TelemetryService
  readonly clock: Clock.Clock
  readonly fatal: Fatal.Fatal
  /** Rows flushed early by an external call and not committed yet. */
  readonly flushed: Set<RowJournal>
  /** Ids of the run's span: the trace of every event not emitted inside a row's own span. */
  readonly trace: Trace
  readonly metrics: RunMetrics.RunMetrics
  /** Whether the hub would let row events through; read once per batch. */
  wantsRowEvents: boolean
  /** Plugin code's context: the pipeline's services plus `CallScope` and the engine's `CallRecorder`. */
  readonly contextFor: (scope: StateScope | OperationScope, recorder: CallRecorderService) => Context.Context<unknown>
}

/**
 * The context plugin code runs in. `captured` is what the caller of `Orchestrator.run` provided
 * (its type, `Exclude<R, CallScope>`, is checked at that boundary); the steps, source and sinks
 * are held with their requirements erased to `unknown`, so the captured services are handed to
 * them as a `Context<unknown>`.
 */
export const makeContextFor = (captured: Context.Context<never>) => {
  const base = Context.unsafeMake<unknown>(captured.unsafeMap)
  return (scope: StateScope | OperationScope, recorder: CallRecorderService): Context.Context<unknown> =>
    Context.add(Context.add(base, CallScope, scope), CallRecorder, recorder)
}

/** A run's context (or one attempt's on a distributed run's partition), in the current span. */
export const make = (options: {
  readonly runId: string
  readonly plan: Plan
  readonly landscape: LandscapeService
  readonly telemetry: TelemetryService
  readonly clock: Clock.Clock
  readonly contextFor: RunContext["contextFor"]
}): Effect.Effect<RunContext> =>
  Effect.gen(function* () {
    return {
      ...options,
      fatal: yield* Fatal.make,
      flushed: new Set(),
      trace: yield* Events.currentTrace,
      metrics: RunMetrics.make(options.plan),
      wantsRowEvents: options.telemetry.accepts("RowCreated")
    }
  })

/** Milliseconds between two `Clock.unsafeCurrentTimeNanos` readings (engine time, so `TestClock` drives it). */
export const elapsedMs = (from: bigint, to: bigint): number => Number(to - from) / 1e6
