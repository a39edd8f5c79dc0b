/**
 * Compile-time guarantees of the Landscape's API (checked by `tsc`, which `npm test` runs on
 * test/), and the run-time side of the same rules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Landscape } from "../src/index.js"

/** Never called: only type-checked. */
export const typeChecks = (runId: string) => {
  // explain takes exactly one of rowId, tokenId, rowIndex.
  Landscape.explain({ runId, rowId: "r" })
  Landscape.explain({ runId, rowIndex: 3 })
  // @ts-expect-error two targets at once
  Landscape.explain({ runId, rowId: "r", tokenId: "t" })
  // @ts-expect-error no target
  Landscape.explain({ runId })
  // LandscapeError's operation is one of the Landscape's operations, not any string.
  new Landscape.LandscapeError({ operation: "verify", message: "m" })
  // @ts-expect-error not an operation of the Landscape
  new Landscape.LandscapeError({ operation: "frobnicate", message: "m" })
  // Every read needs the Landscape in context: providing nothing does not compile.
  // @ts-expect-error Landscape is missing
  Effect.runPromise(Landscape.verify(runId))
  // Results are typed: an explanation's outcome is a union to narrow.
  return Effect.map(Landscape.explain({ runId, rowIndex: 0 }), Option.map((e) => (e.outcome.outcome === null ? e.outcome.reason : e.outcome.sink)))
}

describe("Landscape types", () => {
  it("LandscapeError's operation is a literal union at run time too", () => {
    const decode = Schema.decodeUnknownEither(Landscape.LandscapeError)
    expect(decode({ _tag: "LandscapeError", operation: "explain", message: "m" })._tag).toBe("Right")
    expect(decode({ _tag: "LandscapeError", operation: "frobnicate", message: "m" })._tag).toBe("Left")
  })
})
