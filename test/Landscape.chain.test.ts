/**
 * The hash chain's fact encoding: whatever the values, the text the fast writer makes is the
 * canonical JSON (`JSON.stringify`, RFC 8785's form for arrays of strings, numbers and null).
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as Chain from "../src/landscape/chain.js"

const value = fc.oneof(fc.string({ unit: "binary" }), fc.string(), fc.double(), fc.integer(), fc.constant(null), fc.constantFrom('a"b', "c\\d", "e\nf", "\u0000", "é", "😀"))

describe("chain facts", () => {
  it("a fact's text is JSON.stringify of [kind, ...values], in one text or split across several", () => {
    fc.assert(fc.property(fc.array(fc.array(value, { maxLength: 8 }), { maxLength: 150 }), (facts) => {
      const w = new Chain.FactWriter()
      for (const values of facts) w.fact("run", values)
      const expected = facts.map((values) => JSON.stringify(["run", ...values]))
      expect(w.list().join(",")).toBe(expected.join(","))
      expect(w.count).toBe(facts.length)
    }), { numRuns: 300 })
  })

  it("JSON-text columns enter by their SHA-256; the batch hash covers kinds in order and updates sorted", () => {
    const node = Chain.factOf("node", ["n1", "name", "source", 0, '{"a":1}'])
    expect(node).toBe(JSON.stringify(["node", "n1", "name", "source", 0, "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"]))
    const a = Chain.batchHash({ state_end: [Chain.factOf("state_end", ["b", "failed", null, null, 1, 2]), Chain.factOf("state_end", ["a", "failed", null, null, 1, 2])] })
    const b = Chain.batchHash({ state_end: [Chain.factOf("state_end", ["a", "failed", null, null, 1, 2]), Chain.factOf("state_end", ["b", "failed", null, null, 1, 2])] })
    expect(a).toBe(b)
    expect(Chain.batchHash({ row: ["x"], token: ["y"] })).not.toBe(Chain.batchHash({ row: ["y"], token: ["x"] }))
  })
})
