/**
 * A small protobuf writer (proto3 wire format, https://protobuf.dev/programming-guides/encoding/)
 * for the OTLP messages Sightline sends, and a reader for the one message it receives back
 * (`Export*ServiceResponse.partial_success`, and `google.rpc.Status` on errors).
 *
 * Nested messages are written in place: `begin` reserves one byte for the length, `end` writes it
 * and, when the length needs more than one varint byte, moves the body right (rare: most
 * sub-messages of OTLP are under 128 bytes), so lengths stay minimal. Strings are written the
 * same way, by Node's native UTF-8 encoder (`Buffer.write`) straight into the buffer: a JavaScript
 * loop over the characters was a third of the main job's OTLP cost per event (`node --cpu-prof`,
 * `bench/otlp.ts` main job), and the native write measured about twice as fast on ids and hashes.
 *
 * @internal
 */

/** Hex digit values by character code (-1: not a hex digit). */
const HEX = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) HEX[48 + i] = i
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i
  HEX[97 + i] = 10 + i
}

/** Strings shorter than this are tried as ASCII in JavaScript before Node's encoder (measured crossover on ids and hashes). */
const SHORT = 32

const viewOf = (buf: Buffer): DataView => new DataView(buf.buffer, buf.byteOffset, buf.byteLength)

export class Writer {
  private buf: Buffer
  private view: DataView
  pos = 0

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initial))
    this.view = viewOf(this.buf)
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
    this.view = viewOf(next)
  }

  /**
   * The bytes written so far, as a view on the writer's buffer (not a copy: each payload has a
   * writer of its own, so nothing writes the buffer again; the copy was 2–3 µs per row of the main
   * job's OTLP cost, `node --cpu-prof`).
   */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos)
  }

  varint(n: number): void {
    this.ensure(10)
    let v = n
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    this.buf[this.pos++] = v
  }

  tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint(field * 8 + wire)
  }

  /** An `int64` / `uint64` / enum field; negative numbers as 10-byte two's complement. */
  int(field: number, n: number): void {
    this.tag(field, 0)
    if (n >= 0) return this.varint(n)
    this.ensure(10)
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)))
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    this.buf[this.pos++] = Number(v)
  }

  bool(field: number, b: boolean): void {
    this.tag(field, 0)
    this.varint(b ? 1 : 0)
  }

  /** A `fixed64` / `sfixed64` field. */
  fixed64(field: number, v: bigint): void {
    this.tag(field, 1)
    this.ensure(8)
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true)
    this.pos += 8
  }

  fixed32(field: number, v: number): void {
    this.tag(field, 5)
    this.ensure(4)
    this.view.setUint32(this.pos, v >>> 0, true)
    this.pos += 4
  }

  double(field: number, v: number): void {
    this.tag(field, 1)
    this.rawDouble(v)
  }

  rawDouble(v: number): void {
    this.ensure(8)
    this.view.setFloat64(this.pos, v, true)
    this.pos += 8
  }

  rawFixed64(v: bigint): void {
    this.ensure(8)
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true)
    this.pos += 8
  }

  /**
   * A `string` field, UTF-8 (a lone surrogate becomes U+FFFD, as `TextEncoder` does). Written
   * after a one-byte length, which `end` widens when the string takes 128 bytes or more.
   */
  string(field: number, s: string): void {
    const mark = this.begin(field)
    const n = s.length
    // At most 3 bytes of UTF-8 per UTF-16 code unit.
    this.ensure(3 * n)
    const start = this.pos
    let i = 0
    // Short ASCII strings (keys, names) are copied in one pass here, cheaper than the native call.
    if (n < SHORT) for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) break
      this.buf[start + i] = c
    }
    this.pos = start + (i === n ? n : this.buf.write(s, start, "utf8"))
    this.end(mark)
  }

  /** Bytes already encoded (a field with its tag), copied as they are. */
  bytes(b: Uint8Array): void {
    const n = b.length
    this.ensure(n)
    for (let i = 0; i < n; i++) this.buf[this.pos + i] = b[i]!
    this.pos += n
  }

  /** A `bytes` field from lowercase or uppercase hex (trace and span ids). */
  hex(field: number, hex: string): void {
    const n = hex.length >>> 1
    this.tag(field, 2)
    this.varint(n)
    this.ensure(n)
    for (let i = 0; i < n; i++) {
      this.buf[this.pos++] = ((HEX[hex.charCodeAt(2 * i) & 127] as number) << 4) | (HEX[hex.charCodeAt(2 * i + 1) & 127] as number)
    }
  }

  /**
   * A `fixed64` field of epoch nanoseconds from epoch milliseconds (possibly fractional), exact
   * without BigInt: the milliseconds are split so that every partial product stays below 2^53.
   */
  millisAsNanos(field: number, ms: number): void {
    const whole = Math.floor(ms)
    const frac = Math.round((ms - whole) * 1e6)
    const a = Math.floor(whole / 65536)
    const b = whole - a * 65536
    const x = a * 1e6 // < 2^46
    const low = (x % 65536) * 65536 + b * 1e6 + frac // < 2^38
    const carry = Math.floor(low / 4294967296)
    this.tag(field, 1)
    this.ensure(8)
    this.view.setUint32(this.pos, low - carry * 4294967296, true)
    this.view.setUint32(this.pos + 4, Math.floor(x / 65536) + carry, true)
    this.pos += 8
  }

  /** Starts a length-delimited field; returns the mark `end` needs. */
  begin(field: number): number {
    this.tag(field, 2)
    this.ensure(1)
    return this.pos++
  }

  end(mark: number): void {
    const len = this.pos - mark - 1
    if (len < 0x80) {
      this.buf[mark] = len
      return
    }
    let extra = 0
    for (let v = len; v > 0x7f; v = Math.floor(v / 128)) extra += 1
    this.ensure(extra)
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos)
    this.pos += extra
    let v = len
    let p = mark
    while (v > 0x7f) {
      this.buf[p++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    this.buf[p] = v
  }
}

// ---- reading: just enough for the responses

interface Field {
  readonly field: number
  readonly wire: number
  /** Varint value (wire 0), or the bytes (wire 2). */
  readonly value: number | Uint8Array
}

const readVarint = (bytes: Uint8Array, at: { pos: number }): number => {
  let result = 0
  let scale = 1
  for (;;) {
    if (at.pos >= bytes.length) throw new RangeError("truncated varint")
    const b = bytes[at.pos++] as number
    result += (b & 0x7f) * scale
    if (b < 0x80) return result
    scale *= 128
  }
}

/** The top-level fields of one message; throws a `RangeError` on malformed input. */
export const readFields = (bytes: Uint8Array): ReadonlyArray<Field> => {
  const fields: Array<Field> = []
  const at = { pos: 0 }
  while (at.pos < bytes.length) {
    const key = readVarint(bytes, at)
    const field = Math.floor(key / 8)
    const wire = key % 8
    switch (wire) {
      case 0:
        fields.push({ field, wire, value: readVarint(bytes, at) })
        break
      case 1:
        at.pos += 8
        break
      case 2: {
        const len = readVarint(bytes, at)
        if (at.pos + len > bytes.length) throw new RangeError("truncated field")
        fields.push({ field, wire, value: bytes.subarray(at.pos, at.pos + len) })
        at.pos += len
        break
      }
      case 5:
        at.pos += 4
        break
      default:
        throw new RangeError(`invalid wire type ${wire}`)
    }
  }
  if (at.pos !== bytes.length) throw new RangeError("truncated message")
  return fields
}

const utf8Decoder = new TextDecoder()

/**
 * `Export{Logs,Trace,Metrics}ServiceResponse` → its `partial_success` (field 1: `rejected_*` = 1,
 * `error_message` = 2), all three have the same shape. `{ rejected: 0, message: "" }` when absent.
 */
export const readPartialSuccess = (bytes: Uint8Array): { readonly rejected: number; readonly message: string } => {
  let rejected = 0
  let message = ""
  for (const f of readFields(bytes)) {
    if (f.field !== 1 || !(f.value instanceof Uint8Array)) continue
    for (const g of readFields(f.value)) {
      if (g.field === 1 && typeof g.value === "number") rejected = g.value
      if (g.field === 2 && g.value instanceof Uint8Array) message = utf8Decoder.decode(g.value)
    }
  }
  return { rejected, message }
}

/** `google.rpc.Status.message` (field 2) of an error response, or `undefined`. */
export const readStatusMessage = (bytes: Uint8Array): string | undefined => {
  for (const f of readFields(bytes)) {
    if (f.field === 2 && f.value instanceof Uint8Array) return utf8Decoder.decode(f.value)
  }
  return undefined
}
