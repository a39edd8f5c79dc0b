/**
 * Resolves `Telemetry.Options` into the hub's configuration: defaults applied, numbers checked.
 *
 * @internal
 */
import { Duration, Schedule } from "effect"
import type { ExportError } from "../../Exporter.js"
import type { Options } from "../../Telemetry.js"
import { defaultSettings } from "./control.js"
import type { HubConfig } from "./hub.js"
import * as LastResort from "./lastResort.js"

/** The default retry: 2 retries, 100 ms then 200 ms (jittered). */
export const defaultRetry: Schedule.Schedule<unknown, ExportError> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(2))
)

const positive = (name: string, n: number): number => {
  if (!Number.isFinite(n) || n < 1) throw new TypeError(`Telemetry.layer: ${name} must be at least 1, got ${n}`)
  return Math.floor(n)
}

const rate = (name: string, r: number): number => {
  if (!(r >= 0 && r <= 1)) throw new TypeError(`Telemetry.layer: ${name} must be between 0 and 1, got ${r}`)
  return r
}

/** Throws a `TypeError` naming the bad option. */
export const resolve = <E, R>(options: Options<E, R>): HubConfig => {
  const ingress = { capacity: 2048, strategy: "block" as const, ...options.queue }
  const exporterQueue = { capacity: 2048, strategy: "drop" as const, ...options.exporterQueue }
  return {
    control: {
      ...defaultSettings(options.granularity ?? "rows"),
      ...(options.sampling === undefined ? {} : { sampling: options.sampling }),
      ...(options.allow === undefined ? {} : { allow: options.allow }),
      ...(options.deny === undefined ? {} : { deny: options.deny })
    },
    rowSpanRate: rate("rowSpanRate", options.rowSpanRate ?? 0.001),
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
