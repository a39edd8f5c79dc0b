/**
 * Run-time control of what the hub lets through: on/off, granularity, allow/deny glob patterns on
 * event names and sampling rates per event type. Settings compile into one verdict per event tag,
 * so `emit` decides with a single table look-up before it allocates anything.
 *
 * @internal
 */
import picomatch from "picomatch"
import {
  type EventTag,
  eventTags,
  type Granularity,
  granularityOf,
  isAlwaysDelivered,
  passesGranularity,
  type TelemetryEvent
} from "../../TelemetryEvent.js"

import type { ControlSettings } from "../../Telemetry.js"

export type { ControlSettings }

export const defaultSettings = (granularity: Granularity): ControlSettings => ({
  enabled: true,
  granularity,
  allow: [],
  deny: [],
  sampling: {}
})

/** Per tag: -1 filtered, 1 pass, anything in (0, 1) a sampling rate. */
export type VerdictTable = Readonly<Record<EventTag, number>>

export const FILTERED = -1
export const PASS = 1

const clampRate = (r: number): number => (Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1)

/** Checks the settings; throws a `TypeError` naming the bad field (patterns are compiled here). */
export const compile = (settings: ControlSettings): VerdictTable => {
  const allow = settings.allow.length === 0 ? undefined : picomatch([...settings.allow])
  const deny = settings.deny.length === 0 ? undefined : picomatch([...settings.deny])
  for (const [key, rate] of Object.entries(settings.sampling)) {
    if (typeof rate !== "number" || Number.isNaN(rate) || rate < 0 || rate > 1) {
      throw new TypeError(`Telemetry.control: sampling rate of "${key}" must be between 0 and 1, got ${String(rate)}`)
    }
  }
  const defaultRate = clampRate(settings.sampling["*"] ?? 1)
  const table = {} as Record<EventTag, number>
  for (const tag of eventTags) {
    if (isAlwaysDelivered(tag)) {
      table[tag] = PASS
      continue
    }
    const sample = { _tag: tag } as TelemetryEvent
    const passes = settings.enabled &&
      passesGranularity(granularityOf(sample), settings.granularity) &&
      (allow === undefined || allow(tag)) &&
      (deny === undefined || !deny(tag))
    if (!passes) {
      table[tag] = FILTERED
      continue
    }
    const rate = clampRate(settings.sampling[tag] ?? defaultRate)
    // rate 0 is still "sampled out", not filtered: keep it as a tiny positive rate that keeps nothing.
    table[tag] = rate >= 1 ? PASS : rate === 0 ? 0 : rate
  }
  return table
}

/** Merges a partial update into the settings. */
export const merge = (settings: ControlSettings, patch: Partial<ControlSettings>): ControlSettings => ({
  enabled: patch.enabled ?? settings.enabled,
  granularity: patch.granularity ?? settings.granularity,
  allow: patch.allow ?? settings.allow,
  deny: patch.deny ?? settings.deny,
  sampling: patch.sampling ?? settings.sampling
})
