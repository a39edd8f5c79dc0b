/**
 * Every TypeScript block of README.md compiles and runs: `npm test` extracts them
 * (scripts/readme-blocks.ts) before type-checking, `ts test` blocks run as vitest files, and this
 * file runs each program block in a fresh folder as a user would (`node`, importing "sightline").
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { blocksDir, expectedFiles, parseBlocks } from "../scripts/readme-blocks.js"
import { tempDir } from "./helpers.js"
import { postgres } from "./support/backends.js"

const root = join(import.meta.dirname, "..")
/** tsx's loader, by absolute URL: the programs run in folders outside this repository. */
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const readme = readFileSync(join(root, "README.md"), "utf8")

/** The input files README programs read, written into the folder each one runs in. */
const orderRows = 20_000
const fixtures: Record<string, string> = {
  // The README's orders: every 50th amount negative (quarantined by "check"), every 7th large.
  "orders.csv": ["id,amount", ...Array.from({ length: orderRows }, (_, i) => `${i + 1},${i % 50 === 49 ? -5 : i % 7 === 0 ? 250 : 12.5}`)].join("\n") + "\n"
}

describe("README.md", () => {
  it("its extracted blocks are up to date (npm test extracts them before type-checking)", () => {
    for (const [file, text] of expectedFiles(readme)) {
      expect(existsSync(join(blocksDir, file)), `${file} missing: run npm run readme:blocks`).toBe(true)
      expect(readFileSync(join(blocksDir, file), "utf8"), `${file} is stale: run npm run readme:blocks`).toBe(text)
    }
  })

  const programs = parseBlocks(readme).filter((b) => b.kind === "program")
  it("has program blocks", () => expect(programs.length).toBeGreaterThan(0))

  for (const block of programs) {
    // A program reading DATABASE_URL gets a new database of the test server (support/postgres.ts).
    const needsPostgres = block.code.includes("DATABASE_URL")
    it.skipIf(needsPostgres && !postgres.available)(`the program at line ${block.line} runs and exits 0; with the default exporter queue it loses no event`, async () => {
      const cwd = tempDir("sightline-readme-")
      for (const [name, text] of Object.entries(fixtures)) writeFileSync(join(cwd, name), text)
      const env = needsPostgres ? { ...process.env, DATABASE_URL: (await Effect.runPromise(postgres.fresh())).target } : process.env
      const run = spawnSync(process.execPath, ["--conditions=sightline-source", "--import", tsx, join(blocksDir, block.file)], {
        cwd,
        env,
        encoding: "utf8",
        timeout: 120_000
      })
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0)
      const events = join(cwd, "out", "events.jsonl")
      if (!existsSync(events)) return
      const tags = readFileSync(events, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { _tag: string })._tag)
      expect(tags.filter((t) => t === "EventsDropped")).toEqual([])
      if (!tags.includes("RunStarted")) return // a program that emits a few events, not a run
      expect(tags[0]).toBe("RunStarted")
      expect(tags.at(-1)).toBe("RunFinished")
      expect(tags.filter((t) => t === "RowCreated").length).toBe(orderRows)
      expect(tags.filter((t) => t === "TokenCompleted").length).toBe(orderRows)
    }, 150_000)
  }
})
