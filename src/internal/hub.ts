/**
 * The telemetry hub (DESIGN.md, "The hub"): one bounded ingress queue, a dispatcher fiber, and one
 * bounded queue plus one worker fiber per exporter, so a slow or failing exporter only ever drops
 * its own events. Everything runs in the scope of the `Telemetry` layer; closing it drains.
 *
 * @internal
 */
import { Cause, Chunk, Duration, Effect, Fiber, Option, Queue, type Schedule, type Scope } from "effect"
import { ExportError, type Exporter } from "../Exporter.js"
import { type Granularity, granularityOf, passesGranularity, type TelemetryEvent } from "../TelemetryEvent.js"
import { type ExporterStats, type HealthStatus, newExporterStats, type TelemetryHealth, type TelemetryStats } from "./stats.js"

/** What happens when a queue is full: `block` suspends the producer, `drop` refuses the newest, `slide` evicts the oldest. */
export type OverflowStrategy = "block" | "drop" | "slide"

export interface QueueOptions {
  readonly capacity: number
  readonly strategy: OverflowStrategy
}

export interface HubConfig {
  readonly granularity: Granularity
  readonly ingress: QueueOptions
  readonly exporterQueue: QueueOptions
  readonly maxBatchSize: number
  readonly exportInterval: Duration.Duration
  readonly exportTimeout: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, ExportError>
}

export interface Hub {
  readonly emit: (event: TelemetryEvent) => Effect.Effect<void>
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<TelemetryStats>
  readonly health: Effect.Effect<TelemetryHealth>
}

const sizeOf = <A>(queue: Queue.Queue<A>): number => Option.getOrElse(queue.unsafeSize(), () => 0)

const makeQueue = <A>(options: QueueOptions): Effect.Effect<Queue.Queue<A>> => {
  switch (options.strategy) {
    case "block":
      return Queue.bounded<A>(options.capacity)
    case "drop":
      return Queue.dropping<A>(options.capacity)
    case "slide":
      return Queue.sliding<A>(options.capacity)
  }
}

/**
 * Offers `item`, returning `true` when something was lost: the item itself (`drop`) or the oldest
 * one (`slide`). Under `block` it suspends until there is room and never loses anything. A `drop`
 * queue that is full yields once first, so that its consumer (on the same thread) gets to run:
 * without that a dropping queue drops whenever the producer does not yield (effect-v3-notes §4).
 */
const offerCounting = <A>(queue: Queue.Queue<A>, strategy: OverflowStrategy, item: A): Effect.Effect<boolean> => {
  switch (strategy) {
    case "block":
      return Effect.as(Queue.offer(queue, item), false)
    case "drop":
      return queue.unsafeOffer(item)
        ? Effect.succeed(false)
        : Effect.zipRight(Effect.yieldNow(), Effect.map(Queue.offer(queue, item), (ok) => !ok))
    case "slide":
      return Effect.as(Queue.offer(queue, item), sizeOf(queue) >= queue.capacity())
  }
}

interface Lane {
  readonly exporter: Exporter
  readonly queue: Queue.Queue<TelemetryEvent>
  readonly wake: Queue.Queue<void>
  readonly lock: Effect.Semaphore
  readonly stats: ExporterStats
}

/** Builds the hub in the current scope: forks the dispatcher and the workers, and adds the draining finalizer. */
export const make = (config: HubConfig, exporters: ReadonlyArray<Exporter>): Effect.Effect<Hub, never, Scope.Scope> =>
  Effect.gen(function* () {
    const names = new Set<string>()
    for (const e of exporters) {
      if (names.has(e.name)) return yield* Effect.dieMessage(`Telemetry: two exporters are named "${e.name}"; names must be unique`)
      names.add(e.name)
    }
    const maxBatchSize = Math.max(1, Math.min(config.maxBatchSize, config.exporterQueue.capacity))
    const counters = { emitted: 0, filtered: 0, sampledOut: 0, droppedIngress: 0, droppedAfterShutdown: 0 }
    let dispatching = false
    let closed = false

    const ingress = yield* makeQueue<TelemetryEvent>(config.ingress)
    const lanes: Array<Lane> = []
    for (const exporter of exporters) {
      lanes.push({
        exporter,
        queue: yield* makeQueue<TelemetryEvent>(config.exporterQueue),
        wake: yield* Queue.sliding<void>(1),
        lock: yield* Effect.makeSemaphore(1),
        stats: newExporterStats()
      })
    }

    const exportBatch = (lane: Lane, batch: ReadonlyArray<TelemetryEvent>): Effect.Effect<void> =>
      Effect.suspend(() => lane.exporter.export(batch)).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.fail(new ExportError({ exporter: lane.exporter.name, message: "exporter threw", cause: defect }))
        ),
        Effect.timeoutFail({
          duration: config.exportTimeout,
          onTimeout: () =>
            new ExportError({
              exporter: lane.exporter.name,
              message: `export timed out after ${Duration.format(config.exportTimeout)}`
            })
        }),
        Effect.retry(config.retry),
        Effect.matchCauseEffect({
          onSuccess: () =>
            Effect.sync(() => {
              lane.stats.exported += batch.length
              lane.stats.batchesExported += 1
              lane.stats.consecutiveFailures = 0
            }),
          onFailure: (cause) => {
            lane.stats.dropped.exportFailed += batch.length
            lane.stats.batchesFailed += 1
            lane.stats.consecutiveFailures += 1
            const reason = Cause.squash(cause)
            lane.stats.lastError = reason instanceof Error ? reason.message : String(reason)
            return Effect.logWarning(
              `Telemetry exporter "${lane.exporter.name}" failed; ${batch.length} events dropped after retries`
            ).pipe(Effect.annotateLogs({ exporter: lane.exporter.name, error: lane.stats.lastError }))
          }
        })
      )

    /** Exports everything queued for `lane`, in batches, holding its lock so batches stay in order. */
    const drainLane = (lane: Lane): Effect.Effect<void> =>
      lane.lock.withPermits(1)(
        Effect.gen(function* () {
          while (true) {
            const batch = yield* Queue.takeUpTo(lane.queue, maxBatchSize)
            if (Chunk.isEmpty(batch)) return
            yield* exportBatch(lane, Chunk.toReadonlyArray(batch))
          }
        })
      )

    const dispatch = (items: Chunk.Chunk<TelemetryEvent>): Effect.Effect<void> =>
      Effect.forEach(items, (event) =>
        Effect.forEach(lanes, (lane) =>
          Effect.flatMap(offerCounting(lane.queue, config.exporterQueue.strategy, event), (lost) =>
            Effect.sync(() => {
              if (lost) lane.stats.dropped.queueOverflow += 1
              if (sizeOf(lane.queue) >= maxBatchSize) lane.wake.unsafeOffer(undefined)
            })
          ), { discard: true }), { discard: true })

    const dispatcher = Effect.forever(
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(Queue.takeBetween(ingress, 1, maxBatchSize)), (items) => {
          dispatching = true
          return Effect.ensuring(dispatch(items), Effect.sync(() => (dispatching = false)))
        })
      )
    )

    const worker = (lane: Lane) =>
      Effect.forever(
        Effect.zipRight(
          Effect.race(Queue.take(lane.wake), Effect.sleep(config.exportInterval)),
          Effect.uninterruptible(drainLane(lane))
        )
      )

    /** Waits until the dispatcher has handed every accepted event to the exporter queues. */
    const settleIngress = Effect.gen(function* () {
      while (dispatching || (yield* Queue.size(ingress)) > 0) yield* Effect.yieldNow()
    })

    const flush = Effect.zipRight(settleIngress, Effect.forEach(lanes, drainLane, { discard: true, concurrency: "unbounded" }))

    const dispatcherFiber = yield* Effect.forkScoped(dispatcher)
    const workerFibers = yield* Effect.forEach(lanes, (lane) => Effect.forkScoped(worker(lane)))

    // Added after the forks, so it runs before they are interrupted by the scope.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const drained = yield* Effect.timeout(flush, config.shutdownTimeout).pipe(Effect.option)
        closed = true
        yield* Fiber.interrupt(dispatcherFiber)
        yield* Fiber.interruptAll(workerFibers)
        const leftInIngress = (yield* Queue.takeAll(ingress)).length
        counters.droppedAfterShutdown += leftInIngress
        for (const lane of lanes) {
          lane.stats.dropped.shutdown += (yield* Queue.takeAll(lane.queue)).length
          yield* Effect.timeout(Effect.suspend(() => lane.exporter.shutdown), config.shutdownTimeout).pipe(
            Effect.catchAllCause((cause) =>
              Effect.logWarning(`Telemetry exporter "${lane.exporter.name}" failed to shut down`, cause)
            )
          )
        }
        const lost = leftInIngress + lanes.reduce((n, l) => n + l.stats.dropped.shutdown, 0)
        if (drained._tag === "None" || lost > 0) {
          yield* Effect.logWarning(
            `Telemetry shutdown: ${lost} events could not be delivered within ${Duration.format(config.shutdownTimeout)}`
          )
        }
        yield* Queue.shutdown(ingress)
      })
    )

    const emit = (event: TelemetryEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        counters.emitted += 1
        if (!passesGranularity(granularityOf(event), config.granularity)) {
          counters.filtered += 1
          return Effect.void
        }
        if (closed) {
          counters.droppedAfterShutdown += 1
          return Effect.void
        }
        return Effect.flatMap(offerCounting(ingress, config.ingress.strategy, event), (lost) => {
          if (lost) counters.droppedIngress += 1
          return Effect.void
        })
      })

    const stats = Effect.sync((): TelemetryStats => ({
      emitted: counters.emitted,
      filtered: counters.filtered,
      sampledOut: counters.sampledOut,
      dropped: { ingressOverflow: counters.droppedIngress, shutdown: counters.droppedAfterShutdown },
      exporters: Object.fromEntries(
        lanes.map((lane) => [lane.exporter.name, { ...lane.stats, dropped: { ...lane.stats.dropped } }])
      )
    }))

    const health = Effect.sync((): TelemetryHealth => {
      const exportersHealth: Record<string, { status: HealthStatus; reason?: string }> = {}
      let worst: HealthStatus = "healthy"
      for (const lane of lanes) {
        const s = lane.stats
        const status: HealthStatus = s.consecutiveFailures >= 3
          ? "unhealthy"
          : s.consecutiveFailures > 0 || s.dropped.queueOverflow > 0
          ? "degraded"
          : "healthy"
        if (status === "unhealthy" || (status === "degraded" && worst === "healthy")) worst = status
        exportersHealth[lane.exporter.name] = status === "healthy"
          ? { status }
          : {
            status,
            reason: s.consecutiveFailures > 0
              ? `${s.consecutiveFailures} consecutive failed batches: ${s.lastError ?? "unknown error"}`
              : `${s.dropped.queueOverflow} events dropped on queue overflow`
          }
      }
      return { status: worst, exporters: exportersHealth }
    })

    return { emit, flush, stats, health }
  })
