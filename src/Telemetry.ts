/**
 * The `Telemetry` service: what is happening now, streamed to exporters.
 *
 * There is no default and no no-op fallback: code that emits requires `Telemetry` in its `R`, so a
 * pipeline cannot run until a layer is provided (DESIGN.md invariant 1). `emit` never fails
 * (invariant 2): overflow, exporter failures and time-outs are counted in `stats`, logged through
 * Effect's `Logger`, and shown in `health`.
 *
 * Layers: {@link layer} (exporters given in code), {@link layerConfig} (from the environment,
 * honouring the standard `OTEL_*` variables), {@link layerDisabled} (off, explicitly). For tests,
 * `TestExporter.layer()`.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, type Schedule, type Scope } from "effect"
import type { ExportError, Exporter } from "./Exporter.js"
import type * as Spans from "./internal/hub/spans.js"
import * as HubConfig from "./internal/hub/config.js"
import { defaultSettings } from "./internal/hub/control.js"
import * as EventLoop from "./internal/eventLoop.js"
import * as Hub from "./internal/hub/hub.js"
import type { MetricExporter, SpanExporter } from "./Exporter.js"
import type { EventTag, Granularity, TelemetryEvent } from "./TelemetryEvent.js"
import * as TelemetryStats from "./TelemetryStats.js"

export type { MetricExporter, SpanExporter }

/**
 * Telemetry configured from the environment (`OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_*`,
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `SIGHTLINE_GRANULARITY`, …) through Effect
 * `Config`, on top of the options given in code. With no OTLP endpoint set it is {@link layer}
 * with those options. See `OtlpExporter` for what is sent.
 *
 * @example
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm start
 * Telemetry.layerConfig({ exporters: [JsonLinesExporter.make({ path: "out/events.jsonl", append: false })] })
 *
 * @since 0.2.0
 * @category layers
 */
export { layerConfig } from "./internal/otlp/layerConfig.js"

/**
 * What happens when a queue is full: `block` suspends the producer, `drop` refuses the newest,
 * `slide` evicts the oldest.
 *
 * @since 0.1.0
 */
export type OverflowStrategy = "block" | "drop" | "slide"

/** @since 0.2.0 */
export interface QueueOptions {
  /** Events the queue holds, at least 1. */
  readonly capacity: number
  readonly strategy: OverflowStrategy
}

/**
 * Caps on free-form (plugin-supplied) attributes of `ExternalCallCompleted`.
 *
 * @since 0.2.0
 */
export interface AttributeLimits {
  /** Attributes kept per event; the rest are removed and counted. OpenTelemetry's span limit: 128. */
  readonly maxAttributes: number
  /** Characters kept per string value; longer values are cut and counted. */
  readonly maxAttributeLength: number
}

/**
 * Where health records go when no exporter may be able to carry them: one JSON object per line,
 * at most `burst` lines per `intervalMs` (Vector's rate limit for error logs, anchors.md §2).
 *
 * @since 0.2.0
 */
export interface LastResortOptions {
  /** Writes one line (newline included). Default: `process.stderr.write`. */
  readonly write: (line: string) => void
  /** Window of the rate limit, milliseconds. Default 10 000. */
  readonly intervalMs: number
  /** Lines allowed per window. Default 5. */
  readonly burst: number
}

/**
 * What the hub lets through. Applies to events emitted after a change.
 *
 * Order of the checks: health events always pass; otherwise off ⇒ filtered; below the
 * granularity ⇒ filtered; not matching any `allow` pattern (when there are some) or matching a
 * `deny` pattern ⇒ filtered; then sampling at the event type's rate ⇒ sampled out.
 *
 * @since 0.1.0
 */
export interface ControlSettings {
  /** `false` switches telemetry off: every event but health events is counted as filtered. */
  readonly enabled: boolean
  readonly granularity: Granularity
  /** Glob patterns (picomatch) on event names, e.g. `"Run*"`; empty allows all. */
  readonly allow: ReadonlyArray<string>
  /** Glob patterns on event names; a match is filtered out even when allowed. */
  readonly deny: ReadonlyArray<string>
  /**
   * Sampling rate per event type, 0 to 1 (missing = 1). The key `"*"` sets the rate of every type
   * not named. Deterministic on `traceId` (on `runId` when an event has none).
   */
  readonly sampling: Readonly<Record<string, number>>
}

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
  /**
   * Hands a batch of events to the hub, in order: the same semantics and accounting as emitting
   * each in turn, in one Effect. For the engine, which emits a committed batch of rows' events at
   * once; per-event Effects cost more than the hub's own work per event.
   */
  readonly emitAll: (events: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void>
  /**
   * Synchronous: `false` when an event of type `tag` emitted now would be filtered (telemetry off,
   * below the granularity, refused by allow/deny), so the caller can skip building it. `true` does
   * not promise delivery: sampling (per event, on its trace id) and overflow are decided in `emit`.
   * Health events are always accepted by a live hub; `layerDisabled` accepts nothing.
   */
  readonly accepts: (tag: EventTag) => boolean
  /**
   * Synchronous: whether the engine should give this row its own spans (row and step spans). The
   * rule: deterministic on the row id, kept at `Options.rowSpanRate` (default 0.001), by the
   * same 32-bit comparison as event sampling (OpenTelemetry's `TraceIdRatioBased`: the last 8 hex
   * digits of the id, or its FNV-1a hash, below `rate × 2³²`), so a million-row run makes about a
   * thousand row traces unless asked for more. Always `false` for `layerDisabled`.
   */
  readonly sampleRowSpans: (rowId: string) => boolean
  /** Delivers everything emitted so far to every exporter (like OpenTelemetry's `forceFlush`). */
  readonly flush: Effect.Effect<void>
  /** Accounting snapshot: emitted, filtered, sampled out, exported and dropped by reason and exporter. */
  readonly stats: Effect.Effect<TelemetryStats.TelemetryStats>
  /** `healthy` | `degraded` | `unhealthy`, per exporter and overall, with the reason. */
  readonly health: Effect.Effect<TelemetryStats.TelemetryHealth>
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
 * - `dropPatience` 10 ms: under `drop`, a producer facing a full queue waits for the consumer to
 *   take before it drops. The consumer counts as stalled only after 10 ms *in which it could have
 *   run*: time the one JS thread spent elsewhere (the consumer's own synchronous export work, the
 *   producer's) does not count. 10 ms covers an in-memory export reached through a few
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
  /** Event exporter constructors, built in the layer's scope. Names must be unique. */
  readonly exporters: ReadonlyArray<Effect.Effect<Exporter, E, R>>
  /**
   * Span exporters (e.g. `OtlpExporter.traces`). When there is one, the layer installs a tracer
   * that hands every ended, sampled Effect span to their bounded lanes (`stats.spans`).
   */
  readonly spanExporters?: ReadonlyArray<Effect.Effect<SpanExporter, E, R>>
  /** Periodic metric exporters (e.g. `OtlpExporter.metrics`), run in the layer's scope (`stats.metrics`). */
  readonly metricExporters?: ReadonlyArray<Effect.Effect<MetricExporter, E, R>>
  /** Default `"rows"`. */
  readonly granularity?: Granularity
  /** Fraction of rows the engine gives spans of their own (`TelemetryService.sampleRowSpans`), 0..1. Default 0.001. */
  readonly rowSpanRate?: number
  /** Sampling rate per event type, 0..1 (`"*"` = every other type). Default: keep everything. */
  readonly sampling?: Readonly<Record<string, number>>
  /** Glob patterns on event names to allow (empty = all). */
  readonly allow?: ReadonlyArray<string>
  /** Glob patterns on event names to filter out. */
  readonly deny?: ReadonlyArray<string>
  /** The ingress queue `emit` offers to. Default `{ capacity: 2048, strategy: "block" }`. */
  readonly queue?: Partial<QueueOptions>
  /** Each exporter's own queue (spans' too). Default `{ capacity: 2048, strategy: "drop" }`. */
  readonly exporterQueue?: Partial<QueueOptions>
  /** Under `drop`: how long a consumer may make no progress before it counts as stalled. Default 10 ms. */
  readonly dropPatience?: Duration.DurationInput
  /**
   * Largest batch handed to `export`, for exporters that do not set their own `maxBatchSize`
   * (the OTLP exporters do). Default 512, OpenTelemetry's batch processors' default; always capped
   * at the exporter queue's capacity.
   */
  readonly maxBatchSize?: number
  /** Longest time an event waits in an exporter queue before its batch is exported. Default 5 seconds. */
  readonly exportInterval?: Duration.DurationInput
  /** Time-out of one `export` attempt, for exporters that do not set their own `timeout`. Default 30 seconds. */
  readonly exportTimeout?: Duration.DurationInput
  /** How long closing the layer may take to drain and flush. Default 5 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput
  /**
   * Retries of a failed export. Default: 2 retries, exponential from 100 ms, with jitter. An
   * `ExportError` with `retryable: false` is never retried; its `retryAfterMillis` stretches the
   * next delay.
   */
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
  readonly lastResort?: Partial<LastResortOptions>
}

const makeControl = (hub: Hub.Hub): TelemetryControl => ({
  get: Effect.sync(hub.settings),
  update: (patch) => hub.update(patch),
  setEnabled: (enabled, reason) => hub.update({ enabled }, reason),
  setGranularity: (granularity) => hub.update({ granularity }),
  setSampling: (sampling) => hub.update({ sampling }),
  setFilter: (patterns) => hub.update({ allow: patterns.allow ?? [], deny: patterns.deny ?? [] })
})

/** The service over a built hub. */
const serviceOf = (hub: Hub.Hub): TelemetryService => ({
  get enabled() {
    return hub.settings().enabled
  },
  get granularity() {
    return hub.settings().granularity
  },
  emit: hub.emit,
  emitAll: hub.emitAll,
  accepts: hub.accepts,
  sampleRowSpans: hub.sampleRowSpans,
  flush: hub.flush,
  stats: hub.stats,
  health: hub.health,
  control: makeControl(hub)
})

/**
 * Builds the telemetry service in the current scope, and the tracer that feeds its span exporters
 * (`undefined` without any). Closing the scope drains the queues and flushes every exporter within
 * `shutdownTimeout` (invariant 6).
 *
 * @since 0.2.0
 */
export const makeWithTracer = <E, R>(
  options: Options<E, R>
): Effect.Effect<{ readonly service: TelemetryService; readonly tracer: Spans.TracerInstaller }, E, R | Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* Effect.try(() => HubConfig.resolve(options)).pipe(Effect.orDie)
    const exporters = yield* Effect.all(options.exporters)
    const spanExporters = yield* Effect.all(options.spanExporters ?? [])
    const metricExporters = yield* Effect.all(options.metricExporters ?? [])
    // The hub's fibers share the engine's time-sliced scheduler, so exporting never holds the event
    // loop for long (internal/eventLoop.ts).
    const hub = yield* Effect.withScheduler(Hub.make(config, exporters, { spanExporters, metricExporters }), EventLoop.scheduler)
    return { service: serviceOf(hub), tracer: hub.tracer }
  })

/**
 * Builds the telemetry service in the current scope. Closing the scope drains the queues and
 * flushes every exporter within `shutdownTimeout` (invariant 6). Span exporters get no tracer
 * this way: use {@link layer}, which installs it.
 *
 * @since 0.1.0
 */
export const make = <E, R>(options: Options<E, R>): Effect.Effect<TelemetryService, E, R | Scope.Scope> =>
  Effect.map(makeWithTracer(options), (made) => made.service)

/**
 * The telemetry layer: the hub of DESIGN.md with the given exporters; with span exporters it also
 * installs the tracer that feeds them.
 *
 * @example
 * Telemetry.layer({ granularity: "rows", exporters: [JsonLinesExporter.make({ path: "out/events.jsonl" })] })
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(options: Options<E, R>): Layer.Layer<Telemetry, E, Exclude<R, Scope.Scope>> =>
  Layer.unwrapScoped(
    Effect.map(makeWithTracer(options), ({ service, tracer }) => Layer.merge(Layer.succeed(Telemetry, service), tracer.layer))
  )

const disabledSettings: ControlSettings = { ...defaultSettings("lifecycle"), enabled: false }

/**
 * Telemetry switched off, explicitly. `emit` does nothing, `accepts` is always `false`, and the
 * orchestrator records on the run that telemetry was off (DESIGN.md invariant 1: off is a layer
 * you choose, never a default). `control` cannot switch it on: there is no hub behind it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, {
  enabled: false,
  granularity: "lifecycle",
  emit: () => Effect.void,
  emitAll: () => Effect.void,
  accepts: () => false,
  sampleRowSpans: () => false,
  flush: Effect.void,
  stats: Effect.succeed(TelemetryStats.empty),
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
 * Emits through the `Telemetry` in context.
 *
 * @since 0.1.0
 */
export const emit = (event: TelemetryEvent): Effect.Effect<void, never, Telemetry> =>
  Effect.flatMap(Telemetry, (t) => t.emit(event))

/**
 * Emits a batch through the `Telemetry` in context (see `TelemetryService.emitAll`).
 *
 * @since 0.2.0
 */
export const emitAll = (events: ReadonlyArray<TelemetryEvent>): Effect.Effect<void, never, Telemetry> =>
  Effect.flatMap(Telemetry, (t) => t.emitAll(events))

/** @since 0.1.0 */
export const stats: Effect.Effect<TelemetryStats.TelemetryStats, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.stats)

/** @since 0.1.0 */
export const health: Effect.Effect<TelemetryStats.TelemetryHealth, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.health)

/** @since 0.1.0 */
export const flush: Effect.Effect<void, never, Telemetry> = Effect.flatMap(Telemetry, (t) => t.flush)

/** @since 0.1.0 */
export const control: Effect.Effect<TelemetryControl, never, Telemetry> = Effect.map(Telemetry, (t) => t.control)
