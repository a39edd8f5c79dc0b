/**
 * The telemetry hub (DESIGN.md, "The hub"): one bounded ingress queue, a dispatcher fiber, and one
 * bounded queue plus one worker fiber per exporter, so a slow or failing exporter only ever drops
 * its own events. Everything runs in the scope of the `Telemetry` layer; closing it drains.
 *
 * Hot paths are synchronous: `emit` decides filter and sampling with one table look-up (see
 * `control.ts`) and offers with `unsafeOffer`; the dispatcher fans out with `unsafeOffer` too.
 * Only the overflow paths build an Effect (see `overflow.ts`): `drop` waits up to `dropPatience`
 * for the consumer to take before it drops; `block` waits on the latch the consumer opens after
 * each take; `slide` evicts the oldest.
 *
 * This module is the composition: the hub's state and counters, `emit`, the dispatcher, health
 * events, the draining finalizer, and `stats` / `health` / `update`. Each exporter's lane (queue,
 * worker, export with time-out / retry / circuit) is in `lane.ts`; drop reports and metrics are in
 * `reporter.ts`.
 *
 * @internal
 */
import { Clock, Duration, Effect, Fiber, type Schedule, type Scope } from "effect"
import type { ExportError, Exporter, MetricExporter, SpanData, SpanExporter } from "../../Exporter.js"
import type { EventTag, TelemetryEvent } from "../../TelemetryEvent.js"
import type { TelemetryHealth, TelemetryStats } from "../../TelemetryStats.js"
import { type AttributeLimits, cap, type Truncation } from "./attributes.js"
import type * as Circuit from "./circuit.js"
import * as Health from "./health.js"
import { compile, type ControlSettings, FILTERED, merge, PASS, type VerdictTable } from "./control.js"
import { makeDispatcher } from "./dispatch.js"
import { type Lane, makeLane, makeLaneWorker } from "./lane.js"
import * as LastResort from "./lastResort.js"
import { makeConsumer, makeQueue, offerDropping, type QueueOptions } from "./overflow.js"
import { makeReporter } from "./reporter.js"
import { keep } from "./sampling.js"
import * as Periodic from "./periodic.js"
import * as Spans from "./spans.js"
import { snapshot } from "./stats.js"

export interface HubConfig {
  readonly control: ControlSettings
  /** Fraction of rows given spans of their own (`sampleRowSpans`). */
  readonly rowSpanRate: number
  readonly ingress: QueueOptions
  readonly exporterQueue: QueueOptions
  /** How long a producer facing a full `drop` queue waits for its consumer to take before it drops. */
  readonly dropPatience: Duration.Duration
  readonly maxBatchSize: number
  readonly exportInterval: Duration.Duration
  readonly exportTimeout: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, ExportError>
  readonly circuit: Circuit.CircuitOptions
  /** Period of drop reports (`EventsDropped`) and metric updates. */
  readonly healthInterval: Duration.Duration
  /** How long a drop keeps a component `degraded`. */
  readonly healthWindow: Duration.Duration
  readonly attributes: AttributeLimits
  readonly lastResort: LastResort.LastResortOptions
}

export interface Hub {
  readonly emit: (event: TelemetryEvent) => Effect.Effect<void>
  readonly emitAll: (events: ReadonlyArray<TelemetryEvent>) => Effect.Effect<void>
  readonly accepts: (tag: EventTag) => boolean
  readonly sampleRowSpans: (rowId: string) => boolean
  /** Installs the tracer that feeds the span lanes (nothing without span exporters). */
  readonly tracer: Spans.TracerInstaller
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<TelemetryStats>
  readonly health: Effect.Effect<TelemetryHealth>
  /** The settings in force now (synchronous, for getters). */
  readonly settings: () => ControlSettings
  /** Applies a change to events emitted after it; throws a `TypeError` on bad settings. */
  readonly update: (patch: Partial<ControlSettings>, reason?: string) => Effect.Effect<void>
}


/** Span and metric exporters, beside the event exporters. */
export interface Signals {
  readonly spanExporters: ReadonlyArray<SpanExporter>
  readonly metricExporters: ReadonlyArray<MetricExporter>
}

/** Builds the hub in the current scope: forks the dispatcher, workers and reporter, and adds the draining finalizer. */
export const make = (
  config: HubConfig,
  exporters: ReadonlyArray<Exporter>,
  signals: Signals = { spanExporters: [], metricExporters: [] }
): Effect.Effect<Hub, never, Scope.Scope> =>
  Effect.gen(function* () {
    const names = new Set<string>()
    for (const e of [...exporters, ...signals.spanExporters, ...signals.metricExporters]) {
      if (names.has(e.name)) return yield* Effect.dieMessage(`Telemetry: two exporters are named "${e.name}"; names must be unique`)
      names.add(e.name)
    }
    for (const e of [...exporters, ...signals.spanExporters]) {
      if (e.maxBatchSize !== undefined && !(Number.isInteger(e.maxBatchSize) && e.maxBatchSize >= 1)) {
        return yield* Effect.dieMessage(`Telemetry: exporter "${e.name}" has maxBatchSize ${e.maxBatchSize}; it must be a whole number, at least 1`)
      }
    }
    const maxBatchSize = Math.max(1, Math.min(config.maxBatchSize, config.exporterQueue.capacity))
    const counters = {
      emitted: 0,
      filtered: 0,
      sampledOut: 0,
      healthEvents: 0,
      droppedIngress: 0,
      droppedShutdown: 0,
      reportedIngress: 0,
      reportedShutdown: 0,
      lastIngressDropAt: Number.NEGATIVE_INFINITY
    }
    const truncation: Truncation = { attributes: 0, values: 0 }
    let settings = config.control
    let table: VerdictTable = compile(settings)
    let closed = false
    let lastRunId = ""
    const lastResort = LastResort.make(config.lastResort)

    const ingress = yield* makeQueue<TelemetryEvent>(config.ingress)
    /** The dispatcher, as `emit` sees it when the ingress is full. */
    const dispatcherState = yield* makeConsumer
    const lanes: Array<Lane> = []
    for (const exporter of exporters) lanes.push(yield* makeLane(exporter, config.exporterQueue, maxBatchSize))
    const spanLanes: Array<Lane<SpanData>> = []
    for (const exporter of signals.spanExporters) spanLanes.push(yield* makeLane(exporter, config.exporterQueue, maxBatchSize))
    const spanCounts = { ended: 0, unsampled: 0 }

    // ---- health events: straight to every lane (never through ingress, never blocking) and the last-resort sink

    const allFailing = () => lanes.length > 0 && lanes.every((l) => l.circuit.state !== "closed")

    const emitHealth = (event: TelemetryEvent, now: number): void => {
      counters.emitted += 1
      counters.healthEvents += 1
      for (const lane of lanes) {
        if (lane.circuit.state === "open") {
          lane.stats.dropped.circuitOpen += 1
          lane.healthDropped.circuitOpen += 1
        } else if (!lane.queue.unsafeOffer(event)) {
          lane.stats.dropped.queueOverflow += 1
          lane.healthDropped.queueOverflow += 1
        }
      }
      lastResort.write({ ...event, allExportersFailing: allFailing() }, now)
    }

    const base = (now: number) => ({ timestamp: now, runId: lastRunId })

    // ---- emit

    const onIngressDrop = (): void => {
      counters.droppedIngress += 1
    }

    /** Under `block`: wait for the dispatcher to make room, then retry. Interrupted ⇒ the emit did not happen. */
    const blockIngress = (event: TelemetryEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (closed) {
          counters.droppedShutdown += 1
          return Effect.void
        }
        if (ingress.unsafeOffer(event)) return Effect.void
        dispatcherState.moved.unsafeClose()
        return Effect.zipRight(dispatcherState.moved.await, blockIngress(event))
      })

    /** An `emit` interrupted while it waited for space did not happen. */
    const unEmit = Effect.sync(() => {
      counters.emitted -= 1
    })

    /** Counts and offers `event`; `undefined` when that is done, else the overflow path to run. */
    const acceptNow = (event: TelemetryEvent): Effect.Effect<void> | undefined => {
      counters.emitted += 1
      if (closed) {
        counters.droppedShutdown += 1
        return undefined
      }
      const e = cap(event, config.attributes, truncation)
      lastRunId = e.runId
      if (ingress.unsafeOffer(e)) return undefined
      switch (config.ingress.strategy) {
        case "drop": {
          const wait = offerDropping(ingress, e, dispatcherState, config.dropPatience, onIngressDrop)
          return wait === undefined ? undefined : Effect.onInterrupt(wait, () => unEmit)
        }
        case "slide":
          ingress.unsafeSlide(e)
          onIngressDrop()
          return undefined
        case "block":
          return Effect.onInterrupt(Effect.zipRight(Effect.sync(() => dispatcherState.moved.unsafeClose()), blockIngress(e)), () => unEmit)
      }
    }

    const filteredOut = Effect.sync(() => {
      counters.emitted += 1
      counters.filtered += 1
    })
    const sampledOut = Effect.sync(() => {
      counters.emitted += 1
      counters.sampledOut += 1
    })

    const emit = (event: TelemetryEvent): Effect.Effect<void> => {
      const verdict = table[event._tag]
      if (verdict === FILTERED) return filteredOut
      if (verdict !== PASS && !keep(event.traceId ?? event.runId, verdict)) return sampledOut
      return Effect.suspend(() => acceptNow(event) ?? Effect.void)
    }

    /** `emit` of `events[from..]` in order, synchronously until one needs its overflow path. */
    const emitFrom = (events: ReadonlyArray<TelemetryEvent>, from: number): Effect.Effect<void> => {
      for (let i = from; i < events.length; i++) {
        const event = events[i] as TelemetryEvent
        const verdict = table[event._tag]
        if (verdict === FILTERED) {
          counters.emitted += 1
          counters.filtered += 1
        } else if (verdict !== PASS && !keep(event.traceId ?? event.runId, verdict)) {
          counters.emitted += 1
          counters.sampledOut += 1
        } else {
          const slow = acceptNow(event)
          if (slow !== undefined) {
            const next = i + 1
            return next < events.length ? Effect.zipRight(slow, Effect.suspend(() => emitFrom(events, next))) : slow
          }
        }
      }
      return Effect.void
    }

    const emitAll = (events: ReadonlyArray<TelemetryEvent>): Effect.Effect<void> => Effect.suspend(() => emitFrom(events, 0))

    const accepts = (tag: EventTag): boolean => table[tag] !== FILTERED

    // ---- spans: from the tracer, straight to each span lane (a span ends inside user code: never wait)

    const offerSpan = (span: SpanData | undefined): void => {
      spanCounts.ended += 1
      if (span === undefined) {
        spanCounts.unsampled += 1
        return
      }
      for (const lane of spanLanes) {
        if (closed) lane.stats.dropped.shutdown += 1
        else if (lane.circuit.state === "open") lane.stats.dropped.circuitOpen += 1
        else if (lane.queue.unsafeOffer(span)) wakeIfFull(lane)
        else {
          lane.onDrop()
          lane.wake.unsafeOffer(undefined)
        }
      }
    }

    // ---- dispatcher (dispatch.ts): ingress → one queue per exporter

    const dispatch = makeDispatcher({
      ingress,
      state: dispatcherState,
      lanes,
      maxBatchSize,
      strategy: config.exporterQueue.strategy,
      dropPatience: config.dropPatience,
      exportTimeout: config.exportTimeout
    })
    const dispatcher = dispatch.run
    const { wakeIfFull } = dispatch

    // ---- lanes' workers (lane.ts) and the reporter (reporter.ts)

    const { drain: drainLane, run: worker } = makeLaneWorker({ config, emitHealth, base, allFailing, lastResort })
    const { report, run: reporter, syncMetrics } = makeReporter({
      healthInterval: config.healthInterval,
      counters,
      ingress,
      lanes: [...lanes, ...spanLanes],
      emitHealth,
      base
    })

    // ---- flush and shutdown

    /** Waits until the dispatcher has handed every accepted event to the exporter queues. */
    const settleIngress = Effect.gen(function* () {
      while (dispatch.holding() || ingress.size > 0) yield* Effect.yieldNow()
    })

    const drainAll = Effect.zipRight(
      Effect.forEach(lanes, drainLane, { discard: true, concurrency: "unbounded" }),
      Effect.forEach(spanLanes, drainLane, { discard: true, concurrency: "unbounded" })
    )
    const flush = Effect.zipRight(settleIngress, drainAll)

    const dispatcherFiber = yield* Effect.forkScoped(dispatcher)
    const workerFibers = [
      ...yield* Effect.forEach(lanes, (lane) => Effect.forkScoped(worker(lane))),
      ...yield* Effect.forEach(spanLanes, (lane) => Effect.forkScoped(worker(lane)))
    ]
    const periodic = yield* Effect.forEach(signals.metricExporters, (exporter) => Periodic.start(exporter, config))
    const reporterFiber = yield* Effect.forkScoped(reporter)

    // Added after the forks, so it runs before they are interrupted by the scope.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        const timeoutMs = Duration.toMillis(config.shutdownTimeout)
        const remaining = Effect.map(Clock.currentTimeMillis, (now) => Duration.millis(Math.max(0, started + timeoutMs - now)))
        const drained = yield* Effect.timeout(Effect.interruptible(flush), config.shutdownTimeout).pipe(Effect.option)
        closed = true
        yield* Fiber.interrupt(reporterFiber)
        // A last drop report, delivered to the exporters that still work before they shut down.
        report(yield* Clock.currentTimeMillis)
        yield* Effect.timeout(Effect.interruptible(drainAll), yield* remaining).pipe(Effect.ignore)
        yield* Effect.forEach(periodic, (p) => p.close(Duration.millis(Math.max(1, timeoutMs / 10))), {
          discard: true,
          concurrency: "unbounded"
        })
        yield* Fiber.interrupt(dispatcherFiber)
        counters.droppedShutdown += dispatch.dropHeld()
        yield* Fiber.interruptAll(workerFibers)
        counters.droppedShutdown += ingress.takeAll().length
        for (const lane of lanes) lane.stats.dropped.shutdown += lane.queue.takeAll().length
        for (const lane of spanLanes) lane.stats.dropped.shutdown += lane.queue.takeAll().length
        const now = yield* Clock.currentTimeMillis
        const left = Math.max(timeoutMs - (now - started), timeoutMs / 10)
        yield* Effect.forEach([...lanes, ...spanLanes], (lane) =>
          Effect.timeout(Effect.interruptible(Effect.suspend(() => lane.exporter.shutdown)), Duration.millis(left)).pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning(`Telemetry exporter "${lane.exporter.name}" failed to shut down`, cause)
            )
          ), { discard: true, concurrency: "unbounded" })
        syncMetrics()
        const lost = counters.droppedShutdown + lanes.reduce((n, l) => n + l.stats.dropped.shutdown, 0) +
          spanLanes.reduce((n, l) => n + l.stats.dropped.shutdown, 0)
        if (drained._tag === "None" || lost > 0) {
          const message = `Telemetry shutdown: ${lost} events could not be delivered within ${
            Duration.format(config.shutdownTimeout)
          }`
          lastResort.write({ message, undelivered: lost }, now)
          yield* Effect.logWarning(message)
        }
        ingress.shutdown()
        dispatcherState.moved.unsafeOpen()
      })
    )

    const stats = Effect.sync((): TelemetryStats => ({
      emitted: counters.emitted,
      filtered: counters.filtered,
      sampledOut: counters.sampledOut,
      healthEvents: counters.healthEvents,
      truncated: { ...truncation },
      dropped: { ingressOverflow: counters.droppedIngress, shutdown: counters.droppedShutdown },
      exporters: Object.fromEntries(lanes.map((lane) => [lane.exporter.name, snapshot(lane.stats)])),
      spans: {
        ...spanCounts,
        exporters: Object.fromEntries(spanLanes.map((lane) => [lane.exporter.name, snapshot(lane.stats)]))
      },
      metrics: Object.fromEntries(periodic.map((p) => [p.name, p.stats()]))
    }))

    const health = Effect.map(Clock.currentTimeMillis, (now): TelemetryHealth => {
      report(now)
      return Health.ofHub({
        lanes: [...lanes, ...spanLanes].map((lane) => ({ name: lane.exporter.name, stats: lane.stats, circuit: lane.circuit, lastDropAt: lane.lastDropAt })),
        now,
        window: config.healthWindow,
        lastIngressDropAt: counters.lastIngressDropAt,
        enabled: settings.enabled
      })
    })

    const update = (patch: Partial<ControlSettings>, reason?: string): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const next = merge(settings, patch)
          const nextTable = compile(next)
          const switchedOff = settings.enabled && !next.enabled
          settings = next
          table = nextTable
          if (switchedOff && !closed) {
            emitHealth({ _tag: "TelemetryDisabled", ...base(now), reason: reason ?? "switched off through Telemetry.control" }, now)
          }
        }))

    const tracer = spanLanes.length === 0 ? Spans.noTracer : Spans.installer(offerSpan)

    const sampleRowSpans = (rowId: string): boolean => keep(rowId, config.rowSpanRate)

    return { emit, emitAll, accepts, sampleRowSpans, tracer, flush, stats, health, settings: () => settings, update }
  })
