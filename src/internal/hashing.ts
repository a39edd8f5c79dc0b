/**
 * SHA-256 over canonical JSON (RFC 8785, JSON Canonicalization Scheme, via `canonicalize`),
 * stored as 64 lowercase hex characters (DESIGN.md, Conventions). The scheme's name is
 * {@link canonicalVersion}.
 *
 * Some values have no canonical form: RFC 8785 says NaN and ±Infinity must cause an error
 * (§3.2.2.3), its input is I-JSON whose strings may not hold a lone surrogate (RFC 7493 §2.1), and
 * JSON has no bigint. `canonicalize` throws on each; {@link canonical} turns that
 * into a value that names the field, so the engine can quarantine the row with a clear reason
 * instead of crashing the run (DESIGN.md invariant 11).
 *
 * @internal
 */
import canonicalize from "canonicalize"
import * as crypto from "node:crypto"

/** The canonicalization and hash scheme, as recorded with runs (ELSPETH's `runs.canonical_version`). */
export const canonicalVersion = "sha256-rfc8785-v1"

/** SHA-256 of text or bytes, hex. `crypto.hash` (Node ≥ 20.12) is the one-shot form: 0.9 µs against 2.3 µs for `createHash` on a 70-byte row here. */
export const sha256 = (data: string | Uint8Array): string => crypto.hash("sha256", data, "hex")

/** A value with no canonical JSON form: where it is (`$.delay`, `$.items[2]`) and why. */
export interface NonCanonical {
  readonly path: string
  readonly reason: string
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const describeValue = (value: unknown): string | undefined => {
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN has no JSON form (RFC 8785 §3.2.2.3)"
    if (!Number.isFinite(value)) return `${value} has no JSON form (RFC 8785 §3.2.2.3)`
  }
  if (typeof value === "bigint") return `the bigint ${value}n has no JSON form`
  if (typeof value === "string" && loneSurrogate.test(value)) {
    return "a string with a lone surrogate is not well-formed Unicode (I-JSON, RFC 7493 §2.1, which RFC 8785 requires)"
  }
  if (typeof value === "function") return "a function has no JSON form"
  return undefined
}

/** The first value under `value` that `canonicalize` refuses, depth first, with its path. */
const findNonCanonical = (value: unknown, path: string, seen: Set<object>): NonCanonical | undefined => {
  const own = describeValue(value)
  if (own !== undefined) return { path, reason: own }
  if (value === null || typeof value !== "object") return undefined
  if (seen.has(value)) return { path, reason: "a circular reference has no JSON form" }
  seen.add(value)
  const json = typeof (value as { toJSON?: unknown }).toJSON === "function" ? (value as { toJSON: () => unknown }).toJSON() : value
  if (json !== value) return findNonCanonical(json, path, seen)
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNonCanonical(value[i], `${path}[${i}]`, seen)
      if (found !== undefined) return found
    }
    return undefined
  }
  for (const key of Object.keys(value)) {
    const keyProblem = describeValue(key)
    if (keyProblem !== undefined) return { path: `${path}[${JSON.stringify(key)}]`, reason: `its key: ${keyProblem}` }
    const found = findNonCanonical((value as Record<string, unknown>)[key], /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, seen)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * Canonical JSON text of `value` (RFC 8785), or what prevents it. `undefined` canonicalizes as `null`.
 */
export const canonical = (value: unknown): string | NonCanonical => {
  let text: string | undefined
  try {
    text = canonicalize(value)
  } catch {
    return findNonCanonical(value, "$", new Set()) ?? { path: "$", reason: "the value has no JSON form" }
  }
  if (text === undefined) return "null"
  // `canonicalize` writes a nested function as the bare word `undefined`; a string holding the
  // word is fine, so look before refusing.
  if (text.includes("undefined")) return findNonCanonical(value, "$", new Set()) ?? text
  return text
}

/** `true` for the result of {@link canonical} that is not canonical text. */
export const isNonCanonical = (result: string | NonCanonical): result is NonCanonical => typeof result !== "string"

/** Canonical JSON text of `value` (RFC 8785). Throws a `TypeError` naming the field when it has none. */
export const canonicalJson = (value: unknown): string => {
  const result = canonical(value)
  if (isNonCanonical(result)) throw new TypeError(`${result.path}: ${result.reason}`)
  return result
}

/**
 * `true` when `a` and `b` are the same JSON value as plain data (same keys, same primitives, same
 * order of array items), so their canonical texts are equal: a decoded row that mirrors its source
 * record reuses the record's canonical text and hash instead of computing them again (a structural
 * walk costs a fraction of `canonicalize`). Anything else (a `Date`, a class with `toJSON`, NaN)
 * answers `false` and is canonicalized.
 */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return typeof a !== "number" || Number.isFinite(a)
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  for (const key of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false
    if (!sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false
  }
  return true
}

/** SHA-256 of the canonical JSON of `value`, hex. Throws like {@link canonicalJson}. */
export const hashCanonical = (value: unknown): string => sha256(canonicalJson(value))

/** SHA-256 of raw bytes or text, hex. */
export const hashBytes = (data: string | Uint8Array): string => sha256(data)

/**
 * A JSON-compatible stand-in for a value with no canonical form, so the record of it can still be
 * stored and hashed: `{ "$nonCanonical": reason, "json": <its JSON.stringify text> }` (bigints as
 * decimal strings; NaN and ±Infinity appear as `null` in that text, the reason says which).
 */
export const nonCanonicalStandIn = (value: unknown, problem: NonCanonical): { readonly $nonCanonical: string; readonly json: string } => {
  let json: string
  try {
    json = JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)) ?? "null"
  } catch (e) {
    json = `unserializable: ${(e as Error).message}`
  }
  return { $nonCanonical: `${problem.path}: ${problem.reason}`, json }
}
