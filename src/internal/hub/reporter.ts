/**
 * The hub's reporter: every `healthInterval` it turns the drops counted since its last report
 * into `EventsDropped` health events (one per reason, for the ingress and for each lane), marks
 * when each component last dropped (for the `degraded` window, see `health.ts`), and brings the
 * metrics in `metrics.ts` up to date with the hub's counters.
 *
 * A lane's drops of health events themselves are counted in its stats but not reported, so a
 * report cannot cause the drops it reports.
 *
 * @internal
 */
import { Clock, type Duration, Effect } from "effect"
import type { SpanData } from "../../Exporter.js"
import type { DropReason, TelemetryEvent } from "../../TelemetryEvent.js"
import type { Lane } from "./lane.js"
import * as Metrics from "./metrics.js"
import { sizeOf } from "./overflow.js"
import type { Ring } from "./ring.js"

const laneReasons = ["queueOverflow", "exportFailed", "circuitOpen", "shutdown"] as const

/** The hub's own counters as the reporter reads them, and the report marks it advances. */
export interface HubCounters {
  readonly emitted: number
  readonly droppedIngress: number
  readonly droppedShutdown: number
  reportedIngress: number
  reportedShutdown: number
  lastIngressDropAt: number
}

/** What the reporter needs from the hub. */
export interface ReporterContext {
  readonly healthInterval: Duration.Duration
  readonly counters: HubCounters
  readonly ingress: Ring<TelemetryEvent>
  readonly lanes: ReadonlyArray<Lane | Lane<SpanData>>
  /** Delivers a health event to every lane and the last-resort sink. */
  readonly emitHealth: (event: TelemetryEvent, now: number) => void
  /** The fields every health event starts with. */
  readonly base: (now: number) => { readonly timestamp: number; readonly runId: string }
}

export interface Reporter {
  /** Adds what was emitted and dropped since the last call to the metrics, and sets the queue depths. */
  readonly syncMetrics: () => void
  /** Syncs the metrics and emits `EventsDropped` for the drops not yet reported. */
  readonly report: (now: number) => void
  /** The reporter fiber's loop: `report` every `healthInterval`. */
  readonly run: Effect.Effect<never>
}

export const makeReporter = (ctx: ReporterContext): Reporter => {
  const { base, counters, emitHealth, ingress, lanes } = ctx
  const metricsSynced = { emitted: 0, ingress: 0, shutdown: 0 }

  const syncMetrics = () => {
    Metrics.eventsEmitted.unsafeUpdate(counters.emitted - metricsSynced.emitted, [])
    metricsSynced.emitted = counters.emitted
    Metrics.eventsDropped.unsafeUpdate(counters.droppedIngress - metricsSynced.ingress, Metrics.dropLabels("ingressOverflow"))
    metricsSynced.ingress = counters.droppedIngress
    Metrics.eventsDropped.unsafeUpdate(counters.droppedShutdown - metricsSynced.shutdown, Metrics.dropLabels("shutdown"))
    metricsSynced.shutdown = counters.droppedShutdown
    Metrics.ingressDepth.unsafeUpdate(sizeOf(ingress), [])
    for (const lane of lanes) Metrics.exporterDepth.unsafeUpdate(sizeOf(lane.queue), lane.labels)
  }

  const report = (now: number): void => {
    syncMetrics()
    const hubDrops: Array<[DropReason, number, number]> = [
      ["ingressOverflow", counters.droppedIngress, counters.reportedIngress],
      ["shutdown", counters.droppedShutdown, counters.reportedShutdown]
    ]
    for (const [reason, total, reported] of hubDrops) {
      if (total > reported) {
        counters.lastIngressDropAt = now
        emitHealth({ _tag: "EventsDropped", ...base(now), reason, count: total - reported, total }, now)
      }
    }
    counters.reportedIngress = counters.droppedIngress
    counters.reportedShutdown = counters.droppedShutdown
    for (const lane of lanes) {
      for (const reason of laneReasons) {
        const total = lane.stats.dropped[reason]
        const own = total - lane.healthDropped[reason]
        const delta = own - lane.reported[reason]
        lane.reported[reason] = own
        if (delta > 0) {
          lane.lastDropAt = now
          Metrics.eventsDropped.unsafeUpdate(delta, Metrics.dropLabels(reason, lane.exporter.name))
          emitHealth(
            { _tag: "EventsDropped", ...base(now), exporter: lane.exporter.name, reason, count: delta, total },
            now
          )
        }
      }
    }
  }

  const run = Effect.forever(
    Effect.zipRight(Effect.sleep(ctx.healthInterval), Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => report(now))))
  )

  return { syncMetrics, report, run }
}
