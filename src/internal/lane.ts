/**
 * One exporter's lane in the telemetry hub (DESIGN.md, "The hub"): its bounded queue, and the
 * worker fiber that takes batches from it and exports them with a time-out, retries and a circuit
 * breaker. `settle` accounts for each batch (exported, failed, lost to shutdown) and drives the
 * circuit; its transitions become health events (`ExporterFailed`, `ExporterRecovered`), which
 * the lane hands back to the hub through `LaneContext` rather than emitting them itself.
 *
 * While the circuit is open the worker discards what reaches the queue (counted as `circuitOpen`)
 * and sleeps until the next probe; a probe is a single attempt, without retries.
 *
 * @internal
 */
import { Cause, Chunk, Clock, Duration, Effect, Exit, Queue, type Schedule } from "effect"
import { ExportError, type Exporter } from "../Exporter.js"
import type { DropReason, TelemetryEvent } from "../TelemetryEvent.js"
import * as Circuit from "./circuit.js"
import type * as LastResort from "./lastResort.js"
import * as Metrics from "./metrics.js"
import { advance, type Consumer, makeConsumer, makeQueue, type QueueOptions } from "./overflow.js"
import { type ExporterStats, newExporterStats } from "./stats.js"

const EMPTY: ReadonlyArray<TelemetryEvent> = []

export interface Lane {
  readonly exporter: Exporter
  readonly queue: Queue.Queue<TelemetryEvent>
  readonly wake: Queue.Queue<void>
  /** The worker, as the dispatcher sees it when this queue is full. */
  readonly worker: Consumer
  readonly lock: Effect.Semaphore
  readonly stats: ExporterStats
  readonly circuit: Circuit.Circuit
  readonly labels: Metrics.Labels
  /** Health events this lane lost, by reason: counted in stats, not re-reported (no feedback loop). */
  readonly healthDropped: Record<DropReason, number>
  readonly reported: Record<DropReason, number>
  lastDropAt: number
  /** The batch being exported (empty between exports); see `pipelineOf`. */
  current: ReadonlyArray<TelemetryEvent>
  /** When the current export started (ms, `Clock`). */
  startedAt: number
  /** Counts one `queueOverflow` drop. */
  readonly onDrop: () => void
}

/** Builds the lane of `exporter`, with a queue as `queue` says; its worker is not started. */
export const makeLane = (exporter: Exporter, queue: QueueOptions): Effect.Effect<Lane> =>
  Effect.gen(function* () {
    const stats = newExporterStats()
    return {
      exporter,
      queue: yield* makeQueue<TelemetryEvent>(queue),
      wake: yield* Queue.sliding<void>(1),
      worker: yield* makeConsumer,
      lock: yield* Effect.makeSemaphore(1),
      stats,
      circuit: Circuit.make(),
      labels: Metrics.exporterLabels(exporter.name),
      healthDropped: { ingressOverflow: 0, queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
      reported: { ingressOverflow: 0, queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
      lastDropAt: Number.NEGATIVE_INFINITY,
      current: EMPTY,
      startedAt: 0,
      onDrop: () => {
        stats.dropped.queueOverflow += 1
      }
    }
  })

/** The part of the hub's configuration a lane reads. */
export interface LaneConfig {
  readonly exportInterval: Duration.Duration
  readonly exportTimeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, ExportError>
  readonly circuit: Circuit.CircuitOptions
}

/** What a lane needs from the hub. */
export interface LaneContext {
  readonly config: LaneConfig
  /** Events per export at most (the hub's `maxBatchSize`, capped by the exporter queue's capacity). */
  readonly maxBatchSize: number
  /** Delivers a health event to every lane and the last-resort sink. */
  readonly emitHealth: (event: TelemetryEvent, now: number) => void
  /** The fields every health event starts with. */
  readonly base: (now: number) => { readonly timestamp: number; readonly runId: string }
  /** Whether every exporter's circuit is open or probing. */
  readonly allFailing: () => boolean
  readonly lastResort: LastResort.LastResort
}

export interface LaneWorker {
  /** Exports everything queued for `lane`, in batches, holding its lock so batches stay in order. */
  readonly drain: (lane: Lane) => Effect.Effect<void>
  /** The worker fiber's loop: drains when woken or every `exportInterval`; while open, discards and waits to probe. */
  readonly run: (lane: Lane) => Effect.Effect<never>
}

/** Empties an open lane's queue, counting what it held as `circuitOpen` drops. */
const discardOpen = (lane: Lane): Effect.Effect<void> =>
  Effect.map(Queue.takeAll(lane.queue), (rest) => {
    lane.stats.dropped.circuitOpen += rest.length
    advance(lane.worker)
  })

export const makeLaneWorker = (ctx: LaneContext): LaneWorker => {
  const { allFailing, base, config, emitHealth, lastResort, maxBatchSize } = ctx

  /** Accounts for one batch's outcome and moves the circuit; returns what to log (and, on opening, the discard). */
  const settle = (
    lane: Lane,
    batch: ReadonlyArray<TelemetryEvent>,
    exit: Exit.Exit<void, ExportError>,
    started: number,
    now: number
  ): Effect.Effect<void> => {
    const n = batch.length
    Metrics.exportLatency.unsafeUpdate(now - started, lane.labels)
    if (Exit.isSuccess(exit)) {
      lane.stats.exported += n
      lane.stats.batchesExported += 1
      Metrics.eventsExported.unsafeUpdate(n, lane.labels)
      const downSince = lane.circuit.downSince
      if (Circuit.onSuccess(lane.circuit) === "recovered") {
        lane.stats.circuit = "closed"
        Metrics.circuitOpen.unsafeUpdate(0, lane.labels)
        emitHealth({ _tag: "ExporterRecovered", ...base(now), exporter: lane.exporter.name, downtimeMs: now - downSince }, now)
        lane.stats.consecutiveFailures = 0
        return Effect.logInfo(`Telemetry exporter "${lane.exporter.name}" recovered`)
      }
      lane.stats.consecutiveFailures = 0
      return Effect.void
    }
    if (Cause.isInterruptedOnly(exit.cause)) {
      lane.stats.dropped.shutdown += n
      return Effect.void
    }
    lane.stats.dropped.exportFailed += n
    lane.stats.batchesFailed += 1
    Metrics.exportFailures.unsafeUpdate(1, lane.labels)
    const reason = Cause.squash(exit.cause)
    const message = reason instanceof Error ? reason.message : String(reason)
    lane.stats.lastError = message
    const transition = Circuit.onFailure(lane.circuit, config.circuit, now)
    lane.stats.consecutiveFailures = lane.circuit.consecutiveFailures
    lane.stats.circuit = lane.circuit.state
    const warn = Effect.logWarning(
      `Telemetry exporter "${lane.exporter.name}" failed; ${n} events dropped after retries`
    ).pipe(Effect.annotateLogs({ exporter: lane.exporter.name, error: message }))
    if (transition === "opened") {
      Metrics.circuitOpen.unsafeUpdate(1, lane.labels)
      emitHealth(
        {
          _tag: "ExporterFailed",
          ...base(now),
          exporter: lane.exporter.name,
          error: message,
          consecutiveFailures: lane.circuit.consecutiveFailures
        },
        now
      )
      if (allFailing()) {
        lastResort.write({ message: "every telemetry exporter is failing; events are being dropped" }, now)
      }
      return Effect.zipRight(warn, discardOpen(lane))
    }
    if (transition === "reopened") {
      Metrics.circuitOpen.unsafeUpdate(1, lane.labels)
      return discardOpen(lane)
    }
    return warn
  }

  /**
   * A lane's export pipeline (time-out, retries, settle), built once per lane. It reads the batch
   * from `lane.current` and clears it in `settle`, rather than being rebuilt around each batch:
   * measured with `bench/_hub-rss.ts` (20,000 events/s), Effect values built per batch that
   * captured it kept nearly every delivered event alive through V8's minor GCs until it was
   * promoted to the old generation (14 MB promoted in 6 s, against 6.5 MB now), and peak RSS rose
   * 70 MB at normal load, where it now rises under 20 MB. Which reference held them we did not find:
   * a heap snapshot, taken after a full GC, shows only the batch in flight. The lane's lock keeps
   * one batch in flight, so one slot per lane is enough.
   */
  const pipelines = new WeakMap<Lane, { readonly retried: Effect.Effect<void>; readonly probe: Effect.Effect<void> }>()

  const pipelineOf = (lane: Lane) => {
    const known = pipelines.get(lane)
    if (known !== undefined) return known
    // `interruptible`: the time-out must be able to stop a hung export even when the caller runs
    // uninterruptibly (the scope's finalizer does), since a child fiber inherits that status.
    const once = Effect.interruptible(Effect.suspend(() => lane.exporter.export(lane.current))).pipe(
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
      })
    )
    const start = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        lane.startedAt = now
      }))
    const settleCurrent = (exit: Exit.Exit<void, ExportError>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const batch = lane.current
        lane.current = EMPTY
        return settle(lane, batch, exit, lane.startedAt, now)
      })
    const timed = (attempt: Effect.Effect<void, ExportError>) =>
      Effect.zipRight(start, attempt).pipe(Effect.onExit(settleCurrent), Effect.ignore)
    const made = { retried: timed(Effect.retry(once, config.retry)), probe: timed(once) }
    pipelines.set(lane, made)
    return made
  }

  /** Exports and settles `lane.current`; a half-open circuit's probe is one attempt, without retries. */
  const exportCurrent = (lane: Lane): Effect.Effect<void> => {
    const pipeline = pipelineOf(lane)
    return lane.circuit.state === "halfOpen" ? pipeline.probe : pipeline.retried
  }

  const drain = (lane: Lane): Effect.Effect<void> =>
    lane.lock.withPermits(1)(
      Effect.gen(function* () {
        while (lane.circuit.state !== "open") {
          const batch = yield* Queue.takeUpTo(lane.queue, maxBatchSize)
          advance(lane.worker)
          if (Chunk.isEmpty(batch)) return
          lane.current = Chunk.toReadonlyArray(batch)
          yield* exportCurrent(lane)
        }
      })
    )

  const run = (lane: Lane): Effect.Effect<never> =>
    Effect.forever(
      Effect.suspend(() => {
        if (lane.circuit.state === "open") {
          const wait = Math.max(0, lane.circuit.openedAt + config.circuit.probeIntervalMs)
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.zipRight(
              Effect.zipRight(discardOpen(lane), Effect.sleep(Duration.millis(Math.max(1, wait - now)))),
              Effect.flatMap(Clock.currentTimeMillis, (later) =>
                Effect.flatMap(discardOpen(lane), () =>
                  Effect.sync(() => {
                    if (Circuit.maybeProbe(lane.circuit, config.circuit, later)) {
                      lane.stats.circuit = "halfOpen"
                      Metrics.circuitOpen.unsafeUpdate(0.5, lane.labels)
                    }
                  })))
            ))
        }
        return Effect.zipRight(
          Effect.race(Queue.take(lane.wake), Effect.sleep(config.exportInterval)),
          drain(lane)
        )
      })
    )

  return { drain, run }
}
