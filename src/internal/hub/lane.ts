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
import { Cause, Clock, Duration, Effect, Exit, Queue, Schedule } from "effect"
import { ExportError, type ExportResult } from "../../Exporter.js"
import type { DropReason, TelemetryEvent } from "../../TelemetryEvent.js"
import * as Circuit from "./circuit.js"
import type * as LastResort from "./lastResort.js"
import * as Metrics from "./metrics.js"
import { advance, type Consumer, makeConsumer, makeQueue, type QueueOptions } from "./overflow.js"
import type * as Ring from "./ring.js"
import { type ExporterCounters, newCounters } from "./stats.js"

/** What a lane delivers to: an event `Exporter`, or a span or metric exporter of the same shape. */
export interface LaneExporter<A> {
  readonly name: string
  readonly export: (batch: ReadonlyArray<A>) => Effect.Effect<void | ExportResult, ExportError>
  readonly shutdown: Effect.Effect<void>
  /** Time-out of one attempt; the hub's `exportTimeout` when absent. */
  readonly timeout?: Duration.Duration
  /** Items per export at most; the hub's `maxBatchSize` when absent. */
  readonly maxBatchSize?: number
}

export interface Lane<A = TelemetryEvent> {
  readonly exporter: LaneExporter<A>
  readonly queue: Ring.Ring<A>
  /**
   * Items per export at most: the exporter's `maxBatchSize`, else the hub's, capped by the queue's
   * capacity. The worker is woken when the queue holds this many.
   */
  readonly batchSize: number
  readonly wake: Queue.Queue<void>
  /** The worker, as the dispatcher sees it when this queue is full. */
  readonly worker: Consumer
  readonly lock: Effect.Semaphore
  readonly stats: ExporterCounters
  readonly circuit: Circuit.Circuit
  readonly labels: Metrics.Labels
  /** Health events this lane lost, by reason: counted in stats, not re-reported (no feedback loop). */
  readonly healthDropped: Record<DropReason, number>
  readonly reported: Record<DropReason, number>
  lastDropAt: number
  /** The batch being exported (empty between exports); see `pipelineOf`. */
  current: ReadonlyArray<A>
  /** Attempts made for the current batch (retries = attempts − 1). */
  attempts: number
  /** Durations of the last successful exports, milliseconds (at most 8). */
  readonly durations: Array<number>
  /** When the current export started (ms, `Clock`). */
  startedAt: number
  /** Counts one `queueOverflow` drop. */
  readonly onDrop: () => void
}

/**
 * Builds the lane of `exporter`, with a queue as `queue` says and batches of `maxBatchSize` unless
 * the exporter asks for its own; its worker is not started.
 */
export const makeLane = <A>(exporter: LaneExporter<A>, queue: QueueOptions, maxBatchSize: number): Effect.Effect<Lane<A>> =>
  Effect.gen(function* () {
    const stats = newCounters()
    return {
      exporter,
      queue: yield* makeQueue<A>(queue),
      batchSize: Math.max(1, Math.min(exporter.maxBatchSize ?? maxBatchSize, queue.capacity)),
      wake: yield* Queue.sliding<void>(1),
      worker: yield* makeConsumer,
      lock: yield* Effect.makeSemaphore(1),
      stats,
      circuit: Circuit.make(),
      labels: Metrics.exporterLabels(exporter.name),
      healthDropped: { ingressOverflow: 0, queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
      reported: { ingressOverflow: 0, queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
      lastDropAt: Number.NEGATIVE_INFINITY,
      current: [],
      attempts: 0,
      durations: [],
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
  /** Delivers a health event to every event lane and the last-resort sink. */
  readonly emitHealth: (event: TelemetryEvent, now: number) => void
  /** The fields every health event starts with. */
  readonly base: (now: number) => { readonly timestamp: number; readonly runId: string }
  /** Whether every exporter's circuit is open or probing. */
  readonly allFailing: () => boolean
  readonly lastResort: LastResort.LastResort
}

export interface LaneWorker {
  /** Exports everything queued for `lane`, in batches, holding its lock so batches stay in order. */
  readonly drain: <A>(lane: Lane<A>) => Effect.Effect<void>
  /** The worker fiber's loop: drains when woken or every `exportInterval`; while open, discards and waits to probe. */
  readonly run: <A>(lane: Lane<A>) => Effect.Effect<never>
}

/** Keeps the longest of the last 8 successful export durations in `lane.worker.recentMaxMs`. */
const recordDuration = <A>(lane: Lane<A>, ms: number): void => {
  lane.durations.push(ms)
  if (lane.durations.length > 8) lane.durations.shift()
  lane.worker.recentMaxMs = Math.max(...lane.durations)
}

/** Empties an open lane's queue, counting what it held as `circuitOpen` drops. */
const discardOpen = <A>(lane: Lane<A>): Effect.Effect<void> =>
  Effect.sync(() => {
    const rest = lane.queue.takeAll()
    lane.stats.dropped.circuitOpen += rest.length
    advance(lane.worker)
  })

/**
 * The retry policy around `retry`: an `ExportError` with `retryable: false` is not retried (OTLP
 * `protocol/exporter.md`: only 429, 502, 503, 504 and transport errors are), and a
 * `retryAfterMillis` stretches the next delay to at least that, or ends the retries at once when
 * it is longer than the time-out of one export (OpenTelemetry JS gives up the same way).
 */
export const retryPolicy = (
  retry: Schedule.Schedule<unknown, ExportError>,
  exportTimeout: Duration.Duration
): Schedule.Schedule<unknown, ExportError> => {
  const limit = Duration.toMillis(exportTimeout)
  return Schedule.intersect(retry, Schedule.identity<ExportError>()).pipe(
    Schedule.whileInput((e: ExportError) =>
      e.retryable !== false && (e.retryAfterMillis === undefined || e.retryAfterMillis <= limit)
    ),
    Schedule.modifyDelay(([, e], delay) =>
      e.retryAfterMillis === undefined ? delay : Duration.max(delay, Duration.millis(e.retryAfterMillis))
    )
  )
}

/**
 * One export attempt as the hub runs it, for event, span and metric exporters alike: a defect
 * becomes an `ExportError` ("exporter threw"), and the attempt fails after `timeout` (the
 * exporter's own, else the hub's `exportTimeout`).
 */
export const guardAttempt = <A>(
  exporter: string,
  timeout: Duration.Duration,
  attempt: Effect.Effect<A, ExportError>
): Effect.Effect<A, ExportError> =>
  attempt.pipe(
    Effect.catchAllDefect((defect) => Effect.fail(new ExportError({ exporter, message: "exporter threw", cause: defect }))),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new ExportError({ exporter, message: `export timed out after ${Duration.format(timeout)}` })
    })
  )

const isResult = (value: unknown): value is ExportResult =>
  typeof value === "object" && value !== null && typeof (value as ExportResult).rejected === "number"

export const makeLaneWorker = (ctx: LaneContext): LaneWorker => {
  const { allFailing, base, config, emitHealth, lastResort } = ctx

  const succeeded = <A>(lane: Lane<A>, n: number, result: void | ExportResult, now: number): Effect.Effect<void> => {
    const rejected = isResult(result) ? Math.min(n, Math.max(0, Math.floor(result.rejected))) : 0
    if (rejected > 0) {
      const reason = isResult(result) && result.reason !== "" ? result.reason : "unspecified"
      lane.stats.dropped.exportFailed += rejected
      lane.stats.rejected[reason] = (lane.stats.rejected[reason] ?? 0) + rejected
    }
    lane.stats.exported += n - rejected
    lane.stats.batchesExported += 1
    Metrics.eventsExported.unsafeUpdate(n - rejected, lane.labels)
    const downSince = lane.circuit.downSince
    lane.stats.consecutiveFailures = 0
    if (Circuit.onSuccess(lane.circuit) === "recovered") {
      lane.stats.circuit = "closed"
      Metrics.circuitOpen.unsafeUpdate(0, lane.labels)
      emitHealth({ _tag: "ExporterRecovered", ...base(now), exporter: lane.exporter.name, downtimeMs: now - downSince }, now)
      return Effect.logInfo(`Telemetry exporter "${lane.exporter.name}" recovered`)
    }
    return Effect.void
  }

  const failed = <A>(lane: Lane<A>, n: number, cause: Cause.Cause<ExportError>, now: number): Effect.Effect<void> => {
    lane.stats.dropped.exportFailed += n
    lane.stats.batchesFailed += 1
    Metrics.exportFailures.unsafeUpdate(1, lane.labels)
    const reason = Cause.squash(cause)
    const message = reason instanceof Error ? reason.message : String(reason)
    lane.stats.lastError = message
    const transition = Circuit.onFailure(lane.circuit, config.circuit, now)
    lane.stats.consecutiveFailures = lane.circuit.consecutiveFailures
    lane.stats.circuit = lane.circuit.state
    const warn = Effect.logWarning(`Telemetry exporter "${lane.exporter.name}" failed; ${n} items dropped`).pipe(
      Effect.annotateLogs({ exporter: lane.exporter.name, error: message })
    )
    if (transition === "opened") {
      Metrics.circuitOpen.unsafeUpdate(1, lane.labels)
      const event = {
        _tag: "ExporterFailed" as const,
        ...base(now),
        exporter: lane.exporter.name,
        error: message,
        consecutiveFailures: lane.circuit.consecutiveFailures
      }
      emitHealth(event, now)
      if (allFailing()) lastResort.write({ message: "every telemetry exporter is failing; events are being dropped" }, now)
      return Effect.zipRight(warn, discardOpen(lane))
    }
    if (transition === "reopened") {
      Metrics.circuitOpen.unsafeUpdate(1, lane.labels)
      return discardOpen(lane)
    }
    return warn
  }

  /** Accounts for one batch's outcome and moves the circuit; returns what to log (and, on opening, the discard). */
  const settle = <A>(
    lane: Lane<A>,
    n: number,
    exit: Exit.Exit<void | ExportResult, ExportError>,
    started: number,
    now: number
  ): Effect.Effect<void> => {
    Metrics.exportLatency.unsafeUpdate(now - started, lane.labels)
    lane.stats.retries += Math.max(0, lane.attempts - 1)
    lane.attempts = 0
    if (Exit.isSuccess(exit)) return succeeded(lane, n, exit.value, now)
    if (Cause.isInterruptedOnly(exit.cause)) {
      lane.stats.dropped.shutdown += n
      return Effect.void
    }
    return failed(lane, n, exit.cause, now)
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
  const pipelines = new WeakMap<object, { readonly retried: Effect.Effect<void>; readonly probe: Effect.Effect<void> }>()

  const pipelineOf = <A>(lane: Lane<A>) => {
    const known = pipelines.get(lane)
    if (known !== undefined) return known
    // `interruptible`: the time-out must be able to stop a hung export even when the caller runs
    // uninterruptibly (the scope's finalizer does), since a child fiber inherits that status.
    const timeout = lane.exporter.timeout ?? config.exportTimeout
    const once = guardAttempt(
      lane.exporter.name,
      timeout,
      Effect.interruptible(Effect.suspend(() => {
        lane.attempts += 1
        return lane.exporter.export(lane.current)
      }))
    )
    const start = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        lane.startedAt = now
        lane.worker.busy = true
      }))
    const settleCurrent = (exit: Exit.Exit<void | ExportResult, ExportError>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const n = lane.current.length
        lane.current = []
        lane.worker.busy = false
        if (Exit.isSuccess(exit)) recordDuration(lane, now - lane.startedAt)
        return settle(lane, n, exit, lane.startedAt, now)
      })
    const timed = (attempt: Effect.Effect<void | ExportResult, ExportError>) =>
      Effect.zipRight(start, attempt).pipe(Effect.onExit(settleCurrent), Effect.ignore)
    const made = { retried: timed(Effect.retry(once, retryPolicy(config.retry, timeout))), probe: timed(once) }
    pipelines.set(lane, made)
    return made
  }

  /** Exports and settles `lane.current`; a half-open circuit's probe is one attempt, without retries. */
  const exportCurrent = <A>(lane: Lane<A>): Effect.Effect<void> => {
    const pipeline = pipelineOf(lane)
    return lane.circuit.state === "halfOpen" ? pipeline.probe : pipeline.retried
  }

  const drain = <A>(lane: Lane<A>): Effect.Effect<void> =>
    lane.lock.withPermits(1)(
      Effect.gen(function* () {
        while (lane.circuit.state !== "open") {
          const batch = lane.queue.takeUpTo(lane.batchSize)
          advance(lane.worker)
          // It has emptied its queue: it keeps up (see overflow.ts `patienceFor`).
          if (lane.queue.size === 0) lane.worker.behind = false
          if (batch.length === 0) return
          lane.current = batch
          yield* exportCurrent(lane)
        }
      })
    )

  /** While the circuit is open: discard, sleep until the probe is due, discard again, maybe half-open. */
  const waitOpen = <A>(lane: Lane<A>): Effect.Effect<void> => {
    const due = lane.circuit.openedAt + config.circuit.probeIntervalMs
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.zipRight(
        Effect.zipRight(discardOpen(lane), Effect.sleep(Duration.millis(Math.max(1, due - now)))),
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

  const run = <A>(lane: Lane<A>): Effect.Effect<never> =>
    Effect.forever(
      Effect.suspend(() =>
        lane.circuit.state === "open"
          ? waitOpen(lane)
          : Effect.zipRight(Effect.race(Queue.take(lane.wake), Effect.sleep(config.exportInterval)), drain(lane))
      )
    )

  return { drain, run }
}
