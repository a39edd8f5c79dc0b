/**
 * Identifiers for runs, rows, tokens, node states, routing decisions, operations and calls: UUID
 * version 7 (RFC 9562 §5.7), whose leading 48 bits are the Unix time in milliseconds. They sort by
 * creation time, so in the Landscape's B-tree indexes each insert lands at the end instead of at a
 * random page (random v4 keys made inserts the largest cost of a run).
 *
 * The engine makes seven per row, so they are generated here rather than with `uuid`'s `v7()`
 * (1.45 µs each on the project machine, a twentieth of the engine's own time per row). Layout, by
 * RFC 9562 §6.2 method 1 (a fixed-length dedicated counter):
 *
 *   unix_ts_ms (48) | ver 7 (4) | counter high (12) | var 10 (2) | counter low (30) | random (32)
 *
 * The 42-bit counter starts at a random value (top bit clear, leaving room to count) at each new
 * millisecond and goes up by one per id, so ids made in one process are strictly increasing; the
 * last 32 bits are random for each id. If the clock goes back, the last timestamp is kept. The
 * tests check the output with `uuid`'s `validate`/`version` and against its ordering.
 *
 * @internal
 */
import { randomFillSync } from "node:crypto"

/** The two ASCII hex digits of each byte value, at `2 * byte`. */
const hexDigits = new Uint8Array(512)
for (let i = 0; i < 256; i++) {
  const digits = i.toString(16).padStart(2, "0")
  hexDigits[2 * i] = digits.charCodeAt(0)
  hexDigits[2 * i + 1] = digits.charCodeAt(1)
}

/**
 * The id being made, as ASCII: written in place and read out as one string. Building the string
 * from hex pieces made a chain of about a dozen intermediate strings per id (about 370 bytes, with
 * seven ids per row a twelfth of what the engine allocated per row, by `HeapProfiler` sampling);
 * this makes one 36-byte string in the same time (0.16 µs per id against 0.18 µs, Node 20, the
 * 2-core project machine).
 */
const text = Buffer.alloc(36, "-")

/** Writes `byte` as two hex digits at `at`. */
const putByte = (at: number, byte: number) => {
  text[at] = hexDigits[2 * byte]!
  text[at + 1] = hexDigits[2 * byte + 1]!
}
const put16 = (at: number, n: number) => {
  putByte(at, (n >>> 8) & 0xff)
  putByte(at + 2, n & 0xff)
}
const put32 = (at: number, n: number) => {
  put16(at, n >>> 16)
  put16(at + 4, n & 0xffff)
}

/** Random bytes, drawn 4 KiB at a time. */
const pool = Buffer.alloc(4096)
let poolOffset = pool.length
const random32 = (): number => {
  if (poolOffset + 4 > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const value = pool.readUInt32BE(poolOffset)
  poolOffset += 4
  return value
}

let lastMs = -1
/** The 42-bit counter, as two parts: high 12 bits, low 30 bits. */
let counterHigh = 0
let counterLow = 0

const newMillisecond = (ms: number) => {
  lastMs = ms
  // "tttttttt-tttt-": the 48-bit time, written once per millisecond.
  put32(0, Math.floor(ms / 0x10000))
  put16(9, ms & 0xffff)
  // Random start with the top bit clear: 2^41 ids may follow in this millisecond before it wraps.
  counterHigh = random32() & 0x7ff
  counterLow = random32() & 0x3fffffff
}

/** A new UUIDv7 string (lowercase, 36 characters). */
export const newId = (): string => {
  const now = Date.now()
  if (now > lastMs) newMillisecond(now)
  else if (++counterLow > 0x3fffffff) {
    counterLow = 0
    if (++counterHigh > 0xfff) newMillisecond(lastMs + 1) // 2^42 ids in one millisecond: borrow the next
  }
  // ver 7 + counter high 12 bits | var 0b10 + counter low bits 29..16 | counter low 15..0 | random 32
  put16(14, 0x7000 | counterHigh)
  put16(19, 0x8000 | (counterLow >>> 16))
  put16(24, counterLow & 0xffff)
  put32(28, random32())
  return text.toString("latin1", 0, 36)
}
