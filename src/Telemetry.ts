/**
 * The `Telemetry` service: what is happening now, streamed to exporters.
 *
 * There is no default and no no-op fallback: code that emits requires `Telemetry` in its `R`, so a
 * pipeline cannot run until a layer is provided (DESIGN.md invariant 1). `emit` never fails
 * (invariant 2): overflow, exporter failures and time-outs are counted in `stats`, logged through
 * Effect's `Logger`, and shown in `health`.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import type { ExportError, Exporter } from "./Exporter.js"
import * as Hub from "./internal/hub.js"
import type { TelemetryHealth, TelemetryStats } from "./internal/stats.js"
import type { Granularity, TelemetryEvent } from "./TelemetryEvent.js"
import * as TestExporter from "./exporters/TestExporter.js"

export type { ExporterStats, HealthStatus, TelemetryHealth, TelemetryStats } from "./internal/stats.js"
export type { OverflowStrategy } from "./internal/hub.js"

/**
 * @since 0.1.0
 */
export interface TelemetryService {
  /** `false` only for `layerDisabled`; the orchestrator records it on the run. */
  readonly enabled: boolean
  /** The granularity events are filtered at (`lifecycle` | `rows` | `full`). */
  readonly granularity: Granularity
  /** Hands an event to the hub. Never fails; may suspend only under the `block` strategy. */
  readonly emit: (event: TelemetryEvent) => Effect.Effect<void>
  /** Delivers everything emitted so far to every exporter (like OpenTelemetry's `forceFlush`). */
  readonly flush: Effect.Effect<void>
  /** Accounting snapshot: emitted, filtered, sampled out, exported and dropped by reason and exporter. */
  readonly stats: Effect.Effect<TelemetryStats>
  /** `healthy` | `degraded` | `unhealthy`, per exporter and overall, with the reason. */
  readonly health: Effect.Effect<TelemetryHealth>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Telemetry extends Context.Tag("sightline/Telemetry")<Telemetry, TelemetryService>() {}

/**
 * Options of {@link layer}. Defaults follow the OpenTelemetry batch span processor
 * (specification `trace/sdk.md`, "Batching processor": queue 2048, batch 512, delay 5000 ms,
 * export time-out 30000 ms).
 *
 * @since 0.1.0
 */
export interface Options<E, R> {
  /** Exporter constructors, built in the layer's scope. At least zero; names must be unique. */
  readonly exporters: ReadonlyArray<Effect.Effect<Exporter, E, R>>
  /** Default `"rows"`. */
  readonly granularity?: Granularity
  /** The ingress queue `emit` offers to. Default `{ capacity: 2048, strategy: "block" }`. */
  readonly queue?: Partial<Hub.QueueOptions>
  /** Each exporter's own queue. Default `{ capacity: 2048, strategy: "drop" }`. */
  readonly exporterQueue?: Partial<Hub.QueueOptions>
  /** Largest batch handed to `export`. Default 512 (capped at the exporter queue's capacity). */
  readonly maxBatchSize?: number
  /** Longest time an event waits in an exporter queue before its batch is exported. Default 5 seconds. */
  readonly exportInterval?: Duration.DurationInput
  /** Time-out of one `export` call. Default 30 seconds. */
  readonly exportTimeout?: Duration.DurationInput
  /** How long closing the layer may take to drain and flush. Default 5 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput
  /** Retries of a failed export. Default: 2 retries, exponential from 100 ms, with jitter. */
  readonly retry?: Schedule.Schedule<unknown, ExportError>
}

/** The default retry: 2 retries, 100 ms then 200 ms (jittered). */
const defaultRetry: Schedule.Schedule<unknown, ExportError> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(2))
)

const resolveConfig = <E, R>(options: Options<E, R>): Hub.HubConfig => ({
  granularity: options.granularity ?? "rows",
  ingress: { capacity: 2048, strategy: "block", ...options.queue },
  exporterQueue: { capacity: 2048, strategy: "drop", ...options.exporterQueue },
  maxBatchSize: options.maxBatchSize ?? 512,
  exportInterval: Duration.decode(options.exportInterval ?? "5 seconds"),
  exportTimeout: Duration.decode(options.exportTimeout ?? "30 seconds"),
  shutdownTimeout: Duration.decode(options.shutdownTimeout ?? "5 seconds"),
  retry: options.retry ?? defaultRetry
})

/**
 * Builds the telemetry service in the current scope. Closing the scope drains the queues and
 * flushes every exporter within `shutdownTimeout` (invariant 6).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(options: Options<E, R>): Effect.Effect<TelemetryService, E, R | Scope.Scope> =>
  Effect.gen(function* () {
    const config = resolveConfig(options)
    const exporters = yield* Effect.all(options.exporters)
    const hub = yield* Hub.make(config, exporters)
    return { enabled: true, granularity: config.granularity, ...hub }
  })

/**
 * The telemetry layer: the hub of DESIGN.md with the given exporters.
 *
 * @example
 * Telemetry.layer({ granularity: "rows", exporters: [JsonLines.make({ path: "out/events.jsonl" })] })
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(options: Options<E, R>): Layer.Layer<Telemetry, E, Exclude<R, Scope.Scope>> =>
  Layer.scoped(Telemetry, make(options))

/**
 * Telemetry switched off, explicitly. `emit` does nothing, and the orchestrator records on the run
 * that telemetry was off (DESIGN.md invariant 1: off is a layer you choose, never a default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, {
  enabled: false,
  granularity: "lifecycle",
  emit: () => Effect.void,
  flush: Effect.void,
  stats: Effect.succeed({
    emitted: 0,
    filtered: 0,
    sampledOut: 0,
    dropped: { ingressOverflow: 0, shutdown: 0 },
    exporters: {}
  }),
  health: Effect.succeed({ status: "healthy" as const, exporters: {} })
})

/**
 * Telemetry for tests: granularity `full` (unless given), one in-memory `TestExporter`, export as
 * soon as an event arrives. Provides both `Telemetry` and `TestExporter`; `TestExporter.events`
 * flushes first, so it sees every event emitted before it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  options: { readonly granularity?: Granularity } = {}
): Layer.Layer<Telemetry | TestExporter.TestExporter> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const recorder = TestExporter.makeRecorder()
      const telemetry = yield* make({
        granularity: options.granularity ?? "full",
        exporters: [Effect.succeed(recorder.exporter)],
        exporterQueue: { strategy: "block" },
        exportInterval: "1 millis"
      })
      return Context.make(Telemetry, telemetry).pipe(
        Context.add(TestExporter.TestExporter, recorder.service(telemetry.flush))
      )
    })
  )

/**
 * Emits through the `Telemetry` in context.
 *
 * @since 0.1.0
 */
export const emit = (event: TelemetryEvent): Effect.Effect<void, never, Telemetry> =>
  Effect.flatMap(Telemetry, (t) => t.emit(event))

/** @since 0.1.0 */
export const stats: Effect.Effect<TelemetryStats, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.stats)

/** @since 0.1.0 */
export const health: Effect.Effect<TelemetryHealth, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.health)

/** @since 0.1.0 */
export const flush: Effect.Effect<void, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.flush)
