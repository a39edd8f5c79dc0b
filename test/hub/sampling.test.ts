import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { keep, traceKey } from "../../src/internal/hub/sampling.js"

const hexTail = fc.stringMatching(/^[0-9a-fA-F]{8}$/)

describe("sampling keys", () => {
  it("a W3C id's key is the number its last 8 hex digits write (as TraceIdRatioBased reads it), in either case", () =>
    fc.assert(
      fc.property(fc.string(), hexTail, (prefix, tail) => {
        expect(traceKey(prefix + tail)).toBe(Number.parseInt(tail, 16))
        expect(traceKey(prefix + tail.toUpperCase())).toBe(traceKey(prefix + tail.toLowerCase()))
      })
    ))

  it("any other id is keyed by a 32-bit hash, the same every time", () =>
    fc.assert(
      fc.property(fc.string().filter((s) => !/[0-9a-fA-F]{8}$/.test(s)), (id) => {
        const key = traceKey(id)
        expect(Number.isInteger(key) && key >= 0 && key < 2 ** 32).toBe(true)
        expect(traceKey(id)).toBe(key)
      })
    ))

  it("the decisions nest: kept at a rate means kept at every higher rate", () =>
    fc.assert(
      fc.property(fc.string(), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (id, a, b) => {
        if (keep(id, Math.min(a, b))) expect(keep(id, Math.max(a, b))).toBe(true)
      })
    ))

  it("ids ending 00000000 and ffffffff are the lowest and highest keys", () => {
    expect(traceKey("4bf92f3577b34da6a3ce929d00000000")).toBe(0)
    expect(traceKey("4bf92f3577b34da6a3ce929dffffffff")).toBe(2 ** 32 - 1)
    expect(keep("4bf92f3577b34da6a3ce929dffffffff", 0.999)).toBe(false)
    expect(keep("4bf92f3577b34da6a3ce929d00000000", 0.001)).toBe(true)
  })
})
