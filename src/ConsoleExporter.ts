/**
 * An exporter that prints one readable line per event through Effect's `Console` service:
 * `<ISO time> <Tag> key=value …`, correlation ids shortened to 8 characters.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import * as Exporter from "./Exporter.js"
import type { TelemetryEvent } from "./TelemetryEvent.js"

const idFields = new Set(["runId", "rowId", "tokenId", "nodeId", "stateId", "operationId", "callId", "traceId", "spanId"])
const skipped = new Set(["_tag", "timestamp"])

/**
 * One line for one event, e.g.
 * `2026-11-21T09:00:00.000Z TransformCompleted runId=3f2a9c1b nodeId=validate status=completed durationMs=0.4`.
 *
 * @since 0.1.0
 */
export const formatLine = (event: TelemetryEvent): string => {
  const parts = [new Date(event.timestamp).toISOString(), event._tag]
  for (const [key, value] of Object.entries(event)) {
    if (skipped.has(key) || value === undefined) continue
    if (typeof value === "object" && value !== null) {
      parts.push(`${key}=${JSON.stringify(value)}`)
    } else if (idFields.has(key) && typeof value === "string" && value.length > 8) {
      parts.push(`${key}=${value.slice(0, 8)}`)
    } else {
      parts.push(`${key}=${typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value)}`)
    }
  }
  return parts.join(" ")
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: { readonly stream?: "stdout" | "stderr"; readonly name?: string } = {}): Effect.Effect<
  Exporter.Exporter
> =>
  Effect.sync(() => {
    const print = options.stream === "stderr" ? Console.error : Console.log
    return Exporter.make({
      name: options.name ?? "console",
      export: (batch) => print(batch.map(formatLine).join("\n"))
    })
  })
