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
import type { AttributeLimits } from "./internal/attributes.js"
import { type ControlSettings, defaultSettings } from "./internal/control.js"
import * as Hub from "./internal/hub.js"
import type { QueueOptions } from "./internal/overflow.js"
import * as LastResort from "./internal/lastResort.js"
import { emptyStats, type TelemetryHealth, type TelemetryStats } from "./internal/stats.js"
import type { Granularity, TelemetryEvent } from "./TelemetryEvent.js"
import * as TestExporter from "./exporters/TestExporter.js"

export type {
  ComponentHealth,
  ExporterStats,
  HealthStatus,
  TelemetryHealth,
  TelemetryStats
} from "./internal/stats.js"
export { droppedFor, unaccounted } from "./internal/stats.js"
export type { OverflowStrategy } from "./internal/overflow.js"
export type { ControlSettings } from "./internal/control.js"

/**
 * Run-time control of the hub (`Telemetry.control`). Every change applies to events emitted after
 * it, without a restart. Health events are never affected.
 *
 * @since 0.1.0
 */
export interface TelemetryControl {
  /** The settings in force. */
  readonly get: Effect.Effect<ControlSettings>
  /**
   * Changes any of the settings; the fields left out keep their value. Dies with a `TypeError` on
   * an invalid setting (a sampling rate outside 0..1): that is a programming error.
   */
  readonly update: (patch: Partial<ControlSettings>) => Effect.Effect<void>
  /** Switches telemetry on or off; switching off emits `TelemetryDisabled` (with `reason`). */
  readonly setEnabled: (enabled: boolean, reason?: string) => Effect.Effect<void>
  readonly setGranularity: (granularity: Granularity) => Effect.Effect<void>
  /** Sampling rate per event type (0..1); `"*"` for every type not named. Replaces the previous rates. */
  readonly setSampling: (rates: Readonly<Record<string, number>>) => Effect.Effect<void>
  /** Allow and deny glob patterns on event names (`"Run*"`, `"*Completed"`). Replaces the previous ones. */
  readonly setFilter: (patterns: { readonly allow?: ReadonlyArray<string>; readonly deny?: ReadonlyArray<string> }) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 */
export interface TelemetryService {
  /**
   * `false` for `layerDisabled`, or while switched off through `control`; the orchestrator records
   * it on the run.
   */
  readonly enabled: boolean
  /** The granularity events are filtered at now (`lifecycle` | `rows` | `full`). */
  readonly granularity: Granularity
  /**
   * Hands an event to the hub. Never fails; may suspend only under the `block` strategy. The
   * filter and sampling decision is taken when `emit(event)` is called, before anything is
   * allocated.
   */
  readonly emit: (event: TelemetryEvent) => Effect.Effect<void>
  /** Delivers everything emitted so far to every exporter (like OpenTelemetry's `forceFlush`). */
  readonly flush: Effect.Effect<void>
  /** Accounting snapshot: emitted, filtered, sampled out, exported and dropped by reason and exporter. */
  readonly stats: Effect.Effect<TelemetryStats>
  /** `healthy` | `degraded` | `unhealthy`, per exporter and overall, with the reason. */
  readonly health: Effect.Effect<TelemetryHealth>
  /** Changes granularity, sampling, filters and on/off at run time. */
  readonly control: TelemetryControl
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Telemetry extends Context.Tag("sightline/Telemetry")<Telemetry, TelemetryService>() {}

/**
 * Options of {@link layer}.
 *
 * Defaults and where they come from:
 * - queue 2048, batch 512, interval 5 s, export time-out 30 s: the OpenTelemetry batch span
 *   processor (specification `trace/sdk.md`, "Batching processor"; JS `BatchSpanProcessorBase.ts`),
 *   so users can reason by analogy. `bench/hub.ts` found no reason to move them: a 512 batch keeps
 *   the per-batch cost (a few µs) negligible, and 2048 slots absorb the bursts between the
 *   consumer's turns on the one JS thread.
 * - ingress `block` (the pipeline slows down rather than lose events), exporter queues `drop` (a
 *   slow exporter loses only its own events and never holds the others: the Vector "drop-mode
 *   buffer" advice, anchors.md §3).
 * - `dropPatience` 10 ms: under `drop`, a producer facing a full queue waits this long for the
 *   consumer to take before it drops, then drops at once until the consumer moves. On one thread
 *   the consumer only runs when the producer lets go, so a queue that dropped at the first refusal
 *   would lose events under normal load; 10 ms covers an in-memory export reached through a few
 *   `setTimeout` hops (Node clamps each to ≥ 1 ms), and costs one wait per consumer stall, not one
 *   per event.
 * - circuit: 5 failed batches in a row open it, a probe every 30 s (OpenTelemetry's export
 *   time-out; Effect's OTLP exporter disables itself for 60 s after 3 failures).
 * - last-resort sink: stderr, 5 lines per 10 s (Vector rate-limits error logs to 10 s).
 * - attributes: 128 per event (OpenTelemetry span limit), strings cut at 4096 characters.
 *
 * @since 0.1.0
 */
export interface Options<E, R> {
  /** Exporter constructors, built in the layer's scope. At least zero; names must be unique. */
  readonly exporters: ReadonlyArray<Effect.Effect<Exporter, E, R>>
  /** Default `"rows"`. */
  readonly granularity?: Granularity
  /** Sampling rate per event type, 0..1 (`"*"` = every other type). Default: keep everything. */
  readonly sampling?: Readonly<Record<string, number>>
  /** Glob patterns on event names to allow (empty = all). */
  readonly allow?: ReadonlyArray<string>
  /** Glob patterns on event names to filter out. */
  readonly deny?: ReadonlyArray<string>
  /** The ingress queue `emit` offers to. Default `{ capacity: 2048, strategy: "block" }`. */
  readonly queue?: Partial<QueueOptions>
  /** Each exporter's own queue. Default `{ capacity: 2048, strategy: "drop" }`. */
  readonly exporterQueue?: Partial<QueueOptions>
  /**
   * Under `drop`: how long a producer facing a full queue waits for its consumer to take before it
   * drops the event. Default 10 milliseconds (see above).
   */
  readonly dropPatience?: Duration.DurationInput
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
  /** Failed batches in a row (after retries) that open an exporter's circuit. Default 5. */
  readonly failureThreshold?: number
  /** How long an open circuit waits before a probe batch. Default 30 seconds. */
  readonly probeInterval?: Duration.DurationInput
  /** Period of drop reports (`EventsDropped`) and metric updates. Default 1 second. */
  readonly healthInterval?: Duration.DurationInput
  /** How long a drop keeps a component `degraded` in `health`. Default 60 seconds. */
  readonly healthWindow?: Duration.DurationInput
  /** Caps on free-form attributes. Default `{ maxAttributes: 128, maxAttributeLength: 4096 }`. */
  readonly attributeLimits?: Partial<AttributeLimits>
  /** The last-resort sink. Default: stderr, at most 5 lines per 10 s. */
  readonly lastResort?: Partial<LastResort.LastResortOptions>
}

/** The default retry: 2 retries, 100 ms then 200 ms (jittered). */
const defaultRetry: Schedule.Schedule<unknown, ExportError> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(2))
)

const positive = (name: string, n: number): number => {
  if (!Number.isFinite(n) || n < 1) throw new TypeError(`Telemetry.layer: ${name} must be at least 1, got ${n}`)
  return Math.floor(n)
}

const resolveConfig = <E, R>(options: Options<E, R>): Hub.HubConfig => {
  const ingress = { capacity: 2048, strategy: "block" as const, ...options.queue }
  const exporterQueue = { capacity: 2048, strategy: "drop" as const, ...options.exporterQueue }
  return {
    control: {
      ...defaultSettings(options.granularity ?? "rows"),
      ...(options.sampling === undefined ? {} : { sampling: options.sampling }),
      ...(options.allow === undefined ? {} : { allow: options.allow }),
      ...(options.deny === undefined ? {} : { deny: options.deny })
    },
    ingress: { ...ingress, capacity: positive("queue.capacity", ingress.capacity) },
    exporterQueue: { ...exporterQueue, capacity: positive("exporterQueue.capacity", exporterQueue.capacity) },
    dropPatience: Duration.decode(options.dropPatience ?? "10 millis"),
    maxBatchSize: positive("maxBatchSize", options.maxBatchSize ?? 512),
    exportInterval: Duration.decode(options.exportInterval ?? "5 seconds"),
    exportTimeout: Duration.decode(options.exportTimeout ?? "30 seconds"),
    shutdownTimeout: Duration.decode(options.shutdownTimeout ?? "5 seconds"),
    retry: options.retry ?? defaultRetry,
    circuit: {
      failureThreshold: positive("failureThreshold", options.failureThreshold ?? 5),
      probeIntervalMs: Duration.toMillis(Duration.decode(options.probeInterval ?? "30 seconds"))
    },
    healthInterval: Duration.decode(options.healthInterval ?? "1 second"),
    healthWindow: Duration.decode(options.healthWindow ?? "60 seconds"),
    attributes: { maxAttributes: 128, maxAttributeLength: 4096, ...options.attributeLimits },
    lastResort: { write: LastResort.defaultWrite, intervalMs: 10_000, burst: 5, ...options.lastResort }
  }
}

const makeControl = (hub: Hub.Hub): TelemetryControl => ({
  get: Effect.sync(hub.settings),
  update: (patch) => hub.update(patch),
  setEnabled: (enabled, reason) => hub.update({ enabled }, reason),
  setGranularity: (granularity) => hub.update({ granularity }),
  setSampling: (sampling) => hub.update({ sampling }),
  setFilter: (patterns) => hub.update({ allow: patterns.allow ?? [], deny: patterns.deny ?? [] })
})

/**
 * Builds the telemetry service in the current scope. Closing the scope drains the queues and
 * flushes every exporter within `shutdownTimeout` (invariant 6).
 *
 * @since 0.1.0
 */
export const make = <E, R>(options: Options<E, R>): Effect.Effect<TelemetryService, E, R | Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* Effect.try(() => resolveConfig(options)).pipe(Effect.orDie)
    const exporters = yield* Effect.all(options.exporters)
    const hub = yield* Hub.make(config, exporters)
    const control = makeControl(hub)
    return {
      get enabled() {
        return hub.settings().enabled
      },
      get granularity() {
        return hub.settings().granularity
      },
      emit: hub.emit,
      flush: hub.flush,
      stats: hub.stats,
      health: hub.health,
      control
    }
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

const disabledSettings: ControlSettings = { ...defaultSettings("lifecycle"), enabled: false }

/**
 * Telemetry switched off, explicitly. `emit` does nothing, and the orchestrator records on the run
 * that telemetry was off (DESIGN.md invariant 1: off is a layer you choose, never a default).
 * `control` cannot switch it on: there is no hub behind it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, {
  enabled: false,
  granularity: "lifecycle",
  emit: () => Effect.void,
  flush: Effect.void,
  stats: Effect.succeed(emptyStats),
  health: Effect.succeed({ status: "healthy" as const, exporters: {} }),
  control: {
    get: Effect.succeed(disabledSettings),
    update: () => Effect.void,
    setEnabled: () => Effect.void,
    setGranularity: () => Effect.void,
    setSampling: () => Effect.void,
    setFilter: () => Effect.void
  }
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

/** @since 0.1.0 */
export const control: Effect.Effect<TelemetryControl, never, Telemetry> = Effect.map(Telemetry, (t) => t.control)
