/**
 * Deterministic sampling on the W3C trace id, so a trace is kept or dropped whole.
 *
 * The decision compares a 32-bit number taken from the trace id with `rate × 2³²`, like
 * OpenTelemetry's `TraceIdRatioBased` sampler: with random trace ids the kept fraction is `rate`,
 * every event of one trace gets the same decision at the same rate, and the decisions are nested
 * (kept at rate r ⇒ kept at every rate ≥ r), so per-type rates never split a trace the wrong way.
 *
 * @internal
 */

const TWO_32 = 4294967296

/** FNV-1a (32 bit) of a string, for keys that are not hex trace ids. */
const fnv1a = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The value of hex digit `c` (a UTF-16 code unit), or -1. */
const hexDigit = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1

/**
 * The 32-bit sampling key of a trace: the last 8 hex digits of a W3C trace id (the random part),
 * or an FNV-1a hash of any other string (used for events emitted outside a span, keyed on the run).
 * Read digit by digit: the engine asks once per row (`sampleRowSpans`), where a slice, a regular
 * expression and `parseInt` cost about 1 µs.
 */
export const traceKey = (id: string): number => {
  const n = id.length
  if (n >= 8) {
    let key = 0
    for (let i = n - 8; i < n; i++) {
      const d = hexDigit(id.charCodeAt(i))
      if (d < 0) return fnv1a(id)
      key = key * 16 + d
    }
    return key
  }
  return fnv1a(id)
}

/** `true` when the trace (or run) `id` is kept at `rate` (0 = never, 1 = always). */
export const keep = (id: string, rate: number): boolean => {
  if (rate >= 1) return true
  if (rate <= 0) return false
  return traceKey(id) < rate * TWO_32
}
