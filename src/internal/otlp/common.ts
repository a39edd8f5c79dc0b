/**
 * What the three OTLP signals share (`opentelemetry/proto/common/v1/common.proto`,
 * `resource/v1/resource.proto`): attribute values, the resource and the instrumentation scope, in
 * both encodings. The JSON encoding follows the OTLP/HTTP rules (specification
 * `protocol/otlp.md`, "JSON Protobuf Encoding"): lowerCamelCase names, enums as integers, 64-bit
 * integers as decimal strings, trace and span ids as hex.
 *
 * @internal
 */
import type { Writer } from "./protobuf.js"

export type Attributes = ReadonlyArray<readonly [key: string, value: unknown]>

/** The resource (`service.name`, …) and the scope every payload carries. */
export interface Origin {
  readonly resource: Attributes
  readonly scope: { readonly name: string; readonly version: string }
}

/** The OTLP/JSON form of an `AnyValue`, or `undefined` for a value OTLP cannot carry (null, undefined). */
export const jsonValue = (v: unknown): object | undefined => {
  switch (typeof v) {
    case "string":
      return { stringValue: v }
    case "boolean":
      return { boolValue: v }
    case "number":
      return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v }
    case "bigint":
      return { intValue: v.toString() }
    case "undefined":
      return undefined
    default:
      if (v === null) return undefined
      if (Array.isArray(v)) {
        return { arrayValue: { values: v.map((x) => jsonValue(x) ?? { stringValue: String(x) }) } }
      }
      return { stringValue: safeJson(v) }
  }
}

const safeJson = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

export const jsonAttributes = (attributes: Attributes): Array<object> => {
  const out: Array<object> = []
  for (const [key, v] of attributes) {
    const value = jsonValue(v)
    if (value !== undefined) out.push({ key, value })
  }
  return out
}

/** Writes `v` as the body of an `AnyValue` message; `false` when OTLP cannot carry it (nothing written). */
const writeValueBody = (w: Writer, v: unknown): boolean => {
  switch (typeof v) {
    case "string":
      w.string(1, v)
      return true
    case "boolean":
      w.bool(2, v)
      return true
    case "number":
      if (Number.isSafeInteger(v)) w.int(3, v)
      else w.double(4, v)
      return true
    case "bigint":
      w.int(3, Number(v))
      return true
    case "undefined":
      return false
    default: {
      if (v === null) return false
      if (Array.isArray(v)) {
        const array = w.begin(5)
        for (const x of v) {
          const m = w.begin(1)
          if (!writeValueBody(w, x)) w.string(1, String(x))
          w.end(m)
        }
        w.end(array)
        return true
      }
      w.string(1, safeJson(v))
      return true
    }
  }
}

/** Writes one attribute as a `KeyValue` in `field`, unless OTLP cannot carry its value. */
export const writeAttribute = (w: Writer, field: number, key: string, v: unknown): void => {
  if (v === undefined || v === null) return
  const kv = w.begin(field)
  w.string(1, key)
  const value = w.begin(2)
  writeValueBody(w, v)
  w.end(value)
  w.end(kv)
}

/**
 * {@link writeAttribute} with the key's field already encoded (`KeyValue.key`: tag, length, UTF-8).
 * Written out rather than sharing a key-writing callback with it: that was a closure allocated per
 * attribute of every log record.
 */
export const writeKeyValue = (w: Writer, field: number, key: Uint8Array, v: unknown): void => {
  if (v === undefined || v === null) return
  const kv = w.begin(field)
  w.bytes(key)
  const value = w.begin(2)
  writeValueBody(w, v)
  w.end(value)
  w.end(kv)
}

/** Writes each attribute as a `KeyValue` in `field`, skipping values OTLP cannot carry. */
export const writeAttributes = (w: Writer, field: number, attributes: Attributes): void => {
  for (const [key, v] of attributes) writeAttribute(w, field, key, v)
}

/** `Resource` (field `resourceField` of the Resource* message) then the `InstrumentationScope` (field 1 of Scope*). */
export const writeResource = (w: Writer, field: number, origin: Origin): void => {
  const m = w.begin(field)
  writeAttributes(w, 1, origin.resource)
  w.end(m)
}

export const writeScope = (w: Writer, origin: Origin): void => {
  const m = w.begin(1)
  w.string(1, origin.scope.name)
  w.string(2, origin.scope.version)
  w.end(m)
}

export const jsonResource = (origin: Origin) => ({ attributes: jsonAttributes(origin.resource) })

export const jsonScope = (origin: Origin) => ({ name: origin.scope.name, version: origin.scope.version })

/** Epoch milliseconds (possibly fractional) → epoch nanoseconds. */
export const msToNanos = (ms: number): bigint => {
  const whole = Math.floor(ms)
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))
}
