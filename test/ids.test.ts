/**
 * The engine's UUIDv7 generator (src/internal/ids.ts) against the `uuid` package as the oracle.
 */
import { validate, version } from "uuid"
import { describe, expect, it } from "vitest"
import { newId } from "../src/internal/ids.js"

describe("newId", () => {
  it("makes valid, unique, strictly increasing UUIDv7s whose first 48 bits are the time in ms (RFC 9562 §5.7)", () => {
    const before = Date.now()
    const ids = Array.from({ length: 200_000 }, newId)
    const after = Date.now()
    expect(ids.every((id) => validate(id) && version(id) === 7 && /^[0-9a-f-]{36}$/.test(id))).toBe(true)
    expect(ids.every((id) => "89ab".includes(id[19]!))).toBe(true) // variant 10
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) throw new Error(`not increasing at ${i}: ${ids[i - 1]} ${ids[i]}`)
    const ms = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
    expect(ms(ids[0]!)).toBeGreaterThanOrEqual(before)
    expect(ms(ids.at(-1)!)).toBeLessThanOrEqual(after + 1)
  })
})
