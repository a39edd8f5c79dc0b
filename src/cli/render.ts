/**
 * How the `sightline` command prints: aligned tables and labelled blocks for people, JSON for
 * programs (`--json`). Times as ISO 8601 UTC, durations in ms.
 *
 * @internal
 */
import { formatNumber } from "../internal/format.js"

export { formatNumber, ms, short } from "../internal/format.js"

/** A table: a header row and rows of cells, columns padded to their widest cell (right-aligned when numeric). */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number | null>>): string => {
  const cells = rows.map((r) => r.map((c) => (c === null ? "-" : typeof c === "number" ? formatNumber(c) : c)))
  const numeric = header.map((_, i) => rows.some((r) => typeof r[i] === "number") && rows.every((r) => r[i] === null || typeof r[i] === "number"))
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)))
  const line = (r: ReadonlyArray<string>) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

/** `label  value` lines, labels padded to the widest. */
export const block = (entries: ReadonlyArray<readonly [string, string | number | null]>): string => {
  const width = Math.max(...entries.map(([l]) => l.length))
  return entries.map(([l, v]) => `${l.padEnd(width)}  ${v === null ? "-" : typeof v === "number" ? formatNumber(v) : v}`).join("\n")
}


export const time = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString())



/** JSON for `--json`: two-space indented. */
export const json = (value: unknown): string => JSON.stringify(value, null, 2)

/** One line of a JSON value, cut to `max` characters. */
export const oneLine = (value: unknown, max = 160): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
