/**
 * The hub's mutable per-exporter counters, and their readonly public snapshot
 * (`TelemetryStats.ExporterStats`).
 *
 * @internal
 */
import type { ExporterStats } from "../../TelemetryStats.js"

/** One lane's counters, mutated in place by the lane and the hub. */
export interface ExporterCounters {
  exported: number
  batchesExported: number
  batchesFailed: number
  consecutiveFailures: number
  readonly dropped: {
    queueOverflow: number
    exportFailed: number
    circuitOpen: number
    shutdown: number
  }
  readonly rejected: Record<string, number>
  retries: number
  circuit: "closed" | "open" | "halfOpen"
  lastError?: string
}

export const newCounters = (): ExporterCounters => ({
  exported: 0,
  batchesExported: 0,
  batchesFailed: 0,
  consecutiveFailures: 0,
  dropped: { queueOverflow: 0, exportFailed: 0, circuitOpen: 0, shutdown: 0 },
  rejected: {},
  retries: 0,
  circuit: "closed"
})

/** A copy that later updates do not reach. */
export const snapshot = (c: ExporterCounters): ExporterStats => ({
  exported: c.exported,
  batchesExported: c.batchesExported,
  batchesFailed: c.batchesFailed,
  consecutiveFailures: c.consecutiveFailures,
  dropped: { ...c.dropped },
  rejected: { ...c.rejected },
  retries: c.retries,
  circuit: c.circuit,
  ...(c.lastError === undefined ? {} : { lastError: c.lastError })
})
