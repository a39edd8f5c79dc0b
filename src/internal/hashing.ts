/**
 * SHA-256 over canonical JSON (RFC 8785, JSON Canonicalization Scheme, via `canonicalize`),
 * stored as 64 lowercase hex characters (DESIGN.md, Conventions).
 *
 * @internal
 */
import canonicalize from "canonicalize"
import { createHash } from "node:crypto"

/** Canonical JSON text of `value` (RFC 8785). `undefined` canonicalizes as `null`. */
export const canonicalJson = (value: unknown): string => canonicalize(value) ?? "null"

/** SHA-256 of the canonical JSON of `value`, hex. Throws on values JSON cannot represent (cycles, BigInt). */
export const hashCanonical = (value: unknown): string =>
  createHash("sha256").update(canonicalJson(value)).digest("hex")

/** SHA-256 of raw bytes or text, hex. */
export const hashBytes = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")
