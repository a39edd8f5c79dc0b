/**
 * The last-resort sink: where health events go when no exporter may be able to carry them. One
 * JSON object per line (stderr by default), rate-limited: at most `burst` lines per `interval`;
 * lines over the limit are counted and the count is reported on the next line written
 * (`"suppressed": n`). Vector's rule is the model: error logs rate-limited (10 s), so a failing
 * exporter cannot flood the terminal, yet nothing is silently lost from the count.
 *
 * @internal
 */

import type { LastResortOptions } from "../../Telemetry.js"

export type { LastResortOptions }

export interface LastResort {
  /** Writes `record` as one JSON line unless the rate limit is reached; `now` is epoch ms. */
  readonly write: (record: Record<string, unknown>, now: number) => boolean
  readonly written: () => number
  readonly suppressed: () => number
}

export const defaultWrite = (line: string): void => {
  try {
    process.stderr.write(line)
  } catch {
    // stderr itself is gone: there is nowhere left to report to.
  }
}

export const make = (options: LastResortOptions): LastResort => {
  let windowStart = Number.NEGATIVE_INFINITY
  let inWindow = 0
  let suppressedSinceLast = 0
  let suppressedTotal = 0
  let written = 0
  return {
    write: (record, now) => {
      if (now - windowStart >= options.intervalMs) {
        windowStart = now
        inWindow = 0
      }
      if (inWindow >= options.burst) {
        suppressedSinceLast += 1
        suppressedTotal += 1
        return false
      }
      inWindow += 1
      written += 1
      const line = suppressedSinceLast > 0 ? { ...record, suppressed: suppressedSinceLast } : record
      suppressedSinceLast = 0
      let text: string
      try {
        text = JSON.stringify({ source: "sightline.telemetry", ...line })
      } catch {
        text = JSON.stringify({ source: "sightline.telemetry", message: "unserialisable health record" })
      }
      options.write(text + "\n")
      return true
    },
    written: () => written,
    suppressed: () => suppressedTotal
  }
}
