/**
 * Periodic metric export (`Telemetry.Options.metricExporters`): every `interval`, a snapshot of
 * Effect's metric registry goes to the exporter, with the hub's time-out and retry policy. One
 * export at a time: a tick that finds the previous one still running is skipped and counted; the
 * values are cumulative (OTLP `AGGREGATION_TEMPORALITY_CUMULATIVE`), so a skipped tick loses
 * nothing. When the scope closes, one last export runs within the shutdown time-out.
 *
 * @internal
 */
import { Cause, Clock, type Duration, Effect, Exit, Fiber, Metric, type Schedule, type Scope } from "effect"
import type { ExportError, ExportResult, MetricExporter } from "../../Exporter.js"
import type { MetricExporterStats } from "../../TelemetryStats.js"
import { guardAttempt, retryPolicy } from "./lane.js"

export type { MetricExporter }

export interface PeriodicConfig {
  readonly exportTimeout: Duration.Duration
  readonly retry: Schedule.Schedule<unknown, ExportError>
}

export interface PeriodicExport {
  readonly name: string
  readonly stats: () => MetricExporterStats
  /** The last export, then the exporter's `shutdown`; bounded by `timeout`. */
  readonly close: (timeout: Duration.Duration) => Effect.Effect<void>
}

interface Counters {
  exported: number
  failed: number
  skipped: number
  rejectedPoints: number
  retries: number
  lastError?: string
}

/** Starts `exporter`'s loop in the current scope. */
export const start = (exporter: MetricExporter, config: PeriodicConfig): Effect.Effect<PeriodicExport, never, Scope.Scope> =>
  Effect.gen(function* () {
    const c: Counters = { exported: 0, failed: 0, skipped: 0, rejectedPoints: 0, retries: 0 }
    let attempts = 0
    let inFlight: Fiber.RuntimeFiber<void> | undefined
    const timeout = exporter.timeout ?? config.exportTimeout
    const once = guardAttempt(exporter.name, timeout, Effect.suspend(() => {
      attempts += 1
      return Effect.flatMap(Clock.currentTimeNanos, (now) => exporter.export(Metric.unsafeSnapshot(), now))
    }))
    const settle = (exit: Exit.Exit<void | ExportResult, ExportError>) =>
      Effect.sync(() => {
        c.retries += Math.max(0, attempts - 1)
        attempts = 0
        if (Exit.isSuccess(exit)) {
          c.exported += 1
          if (exit.value !== undefined) c.rejectedPoints += exit.value.rejected
        } else if (!Cause.isInterruptedOnly(exit.cause)) {
          c.failed += 1
          const reason = Cause.squash(exit.cause)
          c.lastError = reason instanceof Error ? reason.message : String(reason)
        }
      })
    const exportNow = Effect.retry(once, retryPolicy(config.retry, timeout)).pipe(
      Effect.onExit(settle),
      Effect.ignore,
      Effect.withTracerEnabled(false)
    )
    const tick = Effect.suspend(() => {
      if (inFlight !== undefined) {
        c.skipped += 1
        return Effect.void
      }
      return Effect.map(
        Effect.forkDaemon(Effect.ensuring(exportNow, Effect.sync(() => void (inFlight = undefined)))),
        (fiber) => void (inFlight = fiber)
      )
    })
    const loop = yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(exporter.interval), tick)))
    const close = (timeout: Duration.Duration) =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(loop)
        const last = Effect.zipRight(inFlight === undefined ? Effect.void : Fiber.await(inFlight), exportNow)
        yield* Effect.timeout(Effect.interruptible(last), timeout).pipe(Effect.ignore)
        if (inFlight !== undefined) yield* Fiber.interrupt(inFlight)
        yield* Effect.timeout(Effect.interruptible(exporter.shutdown), timeout).pipe(Effect.ignore)
      })
    return {
      name: exporter.name,
      stats: () => ({ ...c }),
      close
    }
  })
