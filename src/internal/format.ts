/**
 * How Sightline prints numbers, durations and hashes for people: the `sightline` command's tables
 * and the dashboard's pages.
 *
 * @internal
 */

/** An integer with thousands separators, any other number with at most 3 decimals (`en-US`). */
export const formatNumber = (n: number): string =>
  Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 3 })

/** Milliseconds as `1,234.5 ms`; `-` for none. */
export const ms = (n: number | null | undefined): string => (n === null || n === undefined ? "-" : `${formatNumber(n)} ms`)

/** The first 12 characters of a hash, enough to tell it apart in a table. */
export const short = (hash: string | null): string => (hash === null ? "-" : hash.slice(0, 12))
