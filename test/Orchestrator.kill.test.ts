/**
 * Resume after `kill -9` (issue 12, checkpoints and resume), in real processes: a child process
 * running a real pipeline (test/fixtures/run-child.ts with RUN_CHILD_DAG: a CSV file of 8,000 rows
 * and 6 malformed lines, a transform that quarantines some rows, a fork-join of two branches, a
 * pass-through aggregation of 7 rows whose open batch is in every checkpoint, a gate, a CSV and a
 * JSON Lines sink, SQLite Landscape, JSON Lines telemetry) is
 * killed with SIGKILL at a random point; another process resumes it (opening the Landscape marks
 * the dead run `interrupted`; every other trial resumes with `sightline resume … --job`, as a user
 * would). In every trial the final sink files are byte-identical to those of a
 * run never interrupted, and the Landscape holds each source row exactly once with one terminal
 * outcome per token, and verifies. Every other trial kills the first resume too. The resumes read
 * the CSV on from the checkpoint's byte offset (`Source.recordsAfter`), so the quarantine's line
 * numbers check that its lines are counted from where it reads.
 *
 * The kill points come from a seeded generator (`SIGHTLINE_KILL_SEED`, else the time): the seed is
 * in the test's name, so a failing trial can be replayed.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Landscape, LandscapeSqlite } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const child = join(import.meta.dirname, "fixtures", "run-child.ts")
const root = join(import.meta.dirname, "..")
/** The CSV the child reads: `id,delay` rows, a malformed line (a field too many, a stray quote) after every 1,500th. */
const csvText = (() => {
  const lines = ["id,delay"]
  for (let i = 0; i < 8000; i++) {
    lines.push(`${i},${(i * 37) % 100 - 20}`)
    if (i % 1500 === 1499) lines.push(i % 3000 === 1499 ? `${i},1,2` : `${i}"x,1`)
  }
  return lines.join("\n") + "\n"
})()
const rows = csvText.split("\n").length - 2
const trials = 10
const seed = Number(process.env.SIGHTLINE_KILL_SEED ?? Date.now() % 1_000_000)

/** mulberry32: a small seeded generator of floats in [0, 1). */
const generator = (s: number) => () => {
  s = (s + 0x6d2b79f5) | 0
  let t = Math.imul(s ^ (s >>> 15), 1 | s)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the child (a new run, or a resume of `runId`); with `killAfter`, SIGKILLs it `delayMs` after it has committed that many rows. */
const runChild = (dir: string, runId?: string, kill?: { readonly after: number; readonly delayMs: number }): Promise<Exit> =>
  new Promise((resolve) => {
    const csv = join(dir, "input.csv")
    if (!existsSync(csv)) writeFileSync(csv, csvText)
    const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", child, dir, String(rows), ...(runId === undefined ? [] : [runId])], {
      cwd: root,
      env: { ...process.env, RUN_CHILD_CSV: csv, RUN_CHILD_DAG: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let armed = kill !== undefined
    proc.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString()
      const last = [...stdout.matchAll(/committed (\d+)/g)].at(-1)
      if (armed && last !== undefined && Number(last[1]) >= kill!.after) {
        armed = false
        setTimeout(() => proc.kill("SIGKILL"), kill!.delayMs)
      }
    })
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

/** Resumes `runId` as a user would from the command line: `sightline resume <runId> --job test/fixtures/child-job.ts`. */
const resumeWithCli = (dir: string, runId: string): Promise<Exit> =>
  new Promise((resolve) => {
    const proc = spawn(process.execPath, [join(root, "bin", "sightline.mjs"), "resume", runId, "--job", join("test", "fixtures", "child-job.ts")], {
      cwd: root,
      env: { ...process.env, RUN_CHILD_CSV: join(dir, "input.csv"), RUN_CHILD_DAG: "1", RUN_CHILD_DIR: dir, RUN_CHILD_ROWS: String(rows) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

const q = <A extends object>(db: string, sql: string) => Effect.runPromise(querySqlite<A>(db, sql))

/** The quarantine file without the ids that differ from run to run. */
const quarantined = (dir: string) =>
  readFileSync(join(dir, "quarantine.jsonl"), "utf8").split("\n").filter((l) => l !== "").map((l) => {
    const { data, node, reason, rowIndex } = JSON.parse(l) as { rowIndex: number; node: string; reason: string; data: unknown }
    return JSON.stringify([rowIndex, node, reason, data])
  })

describe(`resume after kill -9 (seed ${seed})`, () => {
  it(`${trials} trials: the output of a run never interrupted, each source row once with one outcome per token, the chain verified`, async () => {
    const random = generator(seed)
    const straight = tempDir()
    const baseline = await runChild(straight)
    expect(baseline.code, baseline.stderr).toBe(0)
    // Tokens per row: 1 for a quarantined row, 5 for the others (forked, two branches, joined, passed through the window).
    const [tokens] = await q<{ tokens: number; per_token: number }>(join(straight, "landscape.db"), `
      SELECT count(*) AS tokens, (SELECT max(n) FROM (SELECT count(*) AS n FROM tokens GROUP BY row_id)) AS per_token FROM tokens`)
    const expected = {
      tokens: tokens!,
      csv: readFileSync(join(straight, "on_time.csv"), "utf8"),
      jsonl: readFileSync(join(straight, "delayed.jsonl"), "utf8"),
      quarantine: quarantined(straight)
    }

    const killedAt: Array<string> = []
    for (let trial = 0; trial < trials; trial++) {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const kill = () => ({ after: 100 + Math.floor(random() * rows * 0.75), delayMs: Math.floor(random() * 25) })
      const first = kill()
      const killed = await runChild(dir, undefined, first)
      expect(killed.signal, `trial ${trial}: the run ended before it was killed\n${killed.stderr}`).toBe("SIGKILL")
      const [{ run_id: runId }] = (await q<{ run_id: string }>(db, "SELECT run_id FROM runs")) as [{ run_id: string }]
      // The checkpoint holds the CSV source's cursor: the resume reads on from its byte offset.
      const [{ state_json: state }] = (await q<{ state_json: string }>(db, "SELECT state_json FROM run_checkpoints")) as [{ state_json: string }]
      expect((JSON.parse(state) as { source?: { bytes: number } }).source?.bytes).toBeGreaterThan(0)
      const points = [`${first.delayMs} ms after ${first.after} rows`]
      if (trial % 2 === 1) {
        const again = kill()
        const resumedThenKilled = await runChild(dir, runId, { after: Math.max(again.after, first.after + 100), delayMs: again.delayMs })
        points.push(`${again.delayMs} ms after ${Math.max(again.after, first.after + 100)} rows`)
        // A resume killed right after it began may have ended first; either way it must not have failed.
        expect(resumedThenKilled.signal === "SIGKILL" || resumedThenKilled.code === 0, resumedThenKilled.stderr).toBe(true)
      }
      killedAt.push(points.join(", then "))
      const [before] = await q<{ status: string }>(db, "SELECT status FROM runs")
      if (before!.status !== "completed") {
        // Every other trial resumes through the command line (`sightline resume`), the others in a process of their own.
        const resumed = trial % 2 === 0 ? await resumeWithCli(dir, runId) : await runChild(dir, runId)
        expect(resumed.code, `trial ${trial} (killed ${killedAt.at(-1)} committed): ${resumed.stderr}`).toBe(0)
        expect(resumed.stdout).toContain(trial % 2 === 0 ? `completed (resumed, attempt 2)` : `done ${rows}`)
      }

      const what = `trial ${trial}, killed ${killedAt.at(-1)} committed`
      expect(readFileSync(join(dir, "on_time.csv"), "utf8") === expected.csv, what).toBe(true)
      expect(readFileSync(join(dir, "delayed.jsonl"), "utf8") === expected.jsonl, what).toBe(true)
      expect(quarantined(dir), what).toEqual(expected.quarantine)
      expect(readdirSync(dir).filter((f) => f.includes(".partial-")), what).toEqual([])

      const [counts] = await q<{ status: string; rows: number; indexes: number; tokens: number; open: number; per_token: number; running: number }>(db, `
        SELECT (SELECT status FROM runs) AS status,
               (SELECT count(*) FROM rows) AS rows,
               (SELECT count(DISTINCT row_index) FROM rows) AS indexes,
               (SELECT count(*) FROM tokens) AS tokens,
               (SELECT count(*) FROM tokens WHERE outcome IS NULL) AS open,
               (SELECT max(n) FROM (SELECT count(*) AS n FROM tokens GROUP BY row_id)) AS per_token,
               (SELECT count(*) FROM node_states WHERE status = 'running') + (SELECT count(*) FROM operations WHERE status = 'running') AS running`)
      expect(counts, what).toEqual({ status: "completed", rows, indexes: rows, ...expected.tokens, open: 0, running: 0 })
      const [batches] = await q<{ open: number; members: number }>(db, `
        SELECT (SELECT count(*) FROM batches WHERE status <> 'flushed') AS open, (SELECT count(*) FROM batch_members) AS members`)
      expect(batches, what).toEqual({ open: 0, members: rows - expected.quarantine.length })
      const report = await Effect.runPromise(Landscape.verify(runId).pipe(Effect.provide(LandscapeSqlite.layer({ filename: db }))))
      expect(report.problems, what).toEqual([])
    }
    console.warn(`kill -9 trials (seed ${seed}): ${killedAt.join("; ")}`)
  }, 300_000)
})
