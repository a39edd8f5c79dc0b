/**
 * The airport-stats example (examples/airport-stats) on real data: in process on `flights-2k.json`
 * against what the Landscape recorded, and as a user runs it (`npm run example:airport-stats`, a
 * child process) to its printed summary.
 */
import { describe, expect, it } from "@effect/vitest"
import { parse } from "csv-parse/sync"
import { Effect, Layer, Option } from "effect"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { makePipeline, windowSize } from "../examples/airport-stats/pipeline.js"
import { Landscape, LandscapeSqlite, Orchestrator, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const root = join(import.meta.dirname, "..")

describe("examples/airport-stats", () => {
  it.live("every flight read is counted once, in one airport row of one window of 500; the Landscape agrees and verifies", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(makePipeline({ outDir: dir, flights: "flights-2k.json" }))
      const rows = parse(readFileSync(join(dir, "airport_windows.csv")), { columns: true, cast: true }) as Array<{ from: string; flights: number }>
      const counted = summary.rowsRead - summary.quarantined
      expect(rows.reduce((n, r) => n + r.flights, 0)).toBe(counted)
      const windows = [...new Set(rows.map((r) => r.from))]
      expect(windows).toHaveLength(Math.ceil(counted / windowSize))
      expect(summary.rowsPerSink).toEqual({ airport_windows: rows.length })

      const batches = yield* querySqlite<{ trigger_reason: string; members: number }>(db, `
        SELECT b.trigger_reason, count(*) AS members FROM batches b JOIN batch_members m ON m.batch_id = b.batch_id GROUP BY b.batch_id ORDER BY b.created_at`)
      // Full windows by count; a last, shorter one (when there is one) at the end of the source.
      expect(batches.map((b) => b.trigger_reason)).toEqual(
        Array.from({ length: windows.length }, (_, i) => (i === windows.length - 1 && counted % windowSize !== 0 ? "end_of_source" : "count"))
      )
      expect(batches.slice(0, -1).every((b) => b.members === windowSize)).toBe(true)
      // Each flight that was not quarantined forked into both lookups, which were joined.
      const [tokens] = yield* querySqlite<{ forked: number; coalesced: number; consumed: number }>(db, `
        SELECT sum(outcome = 'forked') AS forked, sum(outcome = 'coalesced') AS coalesced, sum(outcome = 'consumed_in_batch') AS consumed FROM tokens`)
      expect(tokens).toEqual({ forked: summary.rowsRead, coalesced: 2 * counted, consumed: counted })
      // The second flight's joined token is the second member of the first window.
      const [member] = yield* querySqlite<{ token_id: string }>(db, `
        SELECT t.token_id FROM tokens t JOIN rows r ON r.row_id = t.row_id WHERE r.row_index = 1 AND t.outcome = 'consumed_in_batch'`)
      const second = Option.getOrThrow(yield* Landscape.explain({ runId: summary.runId, tokenId: member!.token_id }))
      expect(second.states.map((st) => st.node)).toEqual(["enriched"])
      expect(second.batch).toMatchObject({ node: "window_stats", status: "flushed", trigger: "count", ordinal: 1, size: windowSize })
      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
  })

  it("runs as `npm run example:airport-stats` and prints a verified summary", async () => {
    const out = tempDir()
    const { stdout } = await promisify(execFile)("npm", ["run", "--silent", "example:airport-stats"], {
      cwd: root,
      env: { ...process.env, SIGHTLINE_OUT: out, FLIGHTS_FILE: "flights-2k.json" }
    })
    expect(stdout).toMatch(/pipeline "airport-stats": completed/)
    expect(stdout).toMatch(/flights read\s+2,000/)
    expect(stdout).toMatch(/verify\s+ok \(/)
    expect(stdout).toMatch(/flight 0 tokens\s+forked 1, coalesced 2, consumed_in_batch 1, expanded 1, routed \d+/)
    expect(readFileSync(join(out, "airport_windows.csv"), "utf8").split("\n")[0]).toBe("from,to,origin,city,flights,meanDelayMin,p90DelayMin,delayedPct,meanMiles")
  }, 60_000)
})
