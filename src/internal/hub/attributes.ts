/**
 * Caps on free-form (plugin-supplied) attributes: at most `maxAttributes` keys per event and
 * `maxAttributeLength` characters per string value. Over the cap, extra keys are removed and long
 * strings truncated, and both are counted; nothing is thrown and memory stays bounded. Defaults
 * follow OpenTelemetry's span limits for the count (128); the value length, unlimited in
 * OpenTelemetry, is capped at 4096 characters here.
 *
 * @internal
 */
import type { AttributeValue, TelemetryEvent } from "../../TelemetryEvent.js"

import type { AttributeLimits } from "../../Telemetry.js"

export type { AttributeLimits }

export interface Truncation {
  attributes: number
  values: number
}

const overCap = (attributes: Readonly<Record<string, AttributeValue>>, limits: AttributeLimits): boolean => {
  let n = 0
  for (const key in attributes) {
    n += 1
    if (n > limits.maxAttributes) return true
    const v = attributes[key]
    if (typeof v === "string" && v.length > limits.maxAttributeLength) return true
  }
  return false
}

/**
 * Returns `event` itself when it is within the caps (the common case: no allocation), else a copy
 * with capped attributes, adding what was cut to `counts`.
 */
export const cap = (event: TelemetryEvent, limits: AttributeLimits, counts: Truncation): TelemetryEvent => {
  if (event._tag !== "ExternalCallCompleted" || !overCap(event.attributes, limits)) return event
  const capped: Record<string, AttributeValue> = {}
  let n = 0
  for (const key in event.attributes) {
    const v = event.attributes[key] as AttributeValue
    if (n >= limits.maxAttributes) {
      counts.attributes += 1
      continue
    }
    n += 1
    if (typeof v === "string" && v.length > limits.maxAttributeLength) {
      capped[key] = v.slice(0, limits.maxAttributeLength)
      counts.values += 1
    } else {
      capped[key] = v
    }
  }
  return { ...event, attributes: capped }
}
