/**
 * `sightline resume <runId|latest> --job <module>` as users run it (`node bin/sightline.mjs`, what
 * `npx sightline` runs), on a run of a real pipeline (test/fixtures/child-pipeline.ts with its DAG
 * shapes) killed with SIGKILL in a child process: a changed pipeline is refused with each change
 * named and the run left as it was; Ctrl-C during the resume records the run `interrupted` again
 * (exit 130); `latest` then finishes it, with the output of a run never interrupted and a chain
 * that verifies; and the job module's mistakes are said in one line (exit 2).
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { Landscape, LandscapeSqlite } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const root = join(import.meta.dirname, "..")
const rows = 6000
const job = join("test", "fixtures", "child-job.ts")

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Spawns `args` (node's) in the repository with the child pipeline's environment for `dir`; with
 * `stop`, sends it `stop.signal` once it has printed `committed <n>` for n ≥ `stop.after`.
 */
const spawnIn = (dir: string, args: ReadonlyArray<string>, stop?: { readonly after: number; readonly signal: NodeJS.Signals }, env: Record<string, string> = {}) =>
  new Promise<Exit>((resolve) => {
    const proc: ChildProcess = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", RUN_CHILD_DAG: "1", RUN_CHILD_DIR: dir, RUN_CHILD_ROWS: String(rows), ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let armed = stop !== undefined
    proc.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString()
      const last = [...stdout.matchAll(/committed (\d+)/g)].at(-1)
      if (armed && last !== undefined && Number(last[1]) >= stop!.after) {
        armed = false
        proc.kill(stop!.signal)
      }
    })
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
    proc.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

const runChild = (dir: string, stop?: { readonly after: number; readonly signal: NodeJS.Signals }) =>
  spawnIn(dir, ["--import", "tsx", join("test", "fixtures", "run-child.ts"), dir, String(rows)], stop)
const sightline = (dir: string, args: ReadonlyArray<string>, stop?: { readonly after: number; readonly signal: NodeJS.Signals }, env: Record<string, string> = {}) =>
  spawnIn(dir, [join("bin", "sightline.mjs"), ...args], stop, env)

const q = <A extends object>(db: string, sql: string) => Effect.runPromise(querySqlite<A>(db, sql))
const outputs = (dir: string) => ["on_time.csv", "delayed.jsonl"].map((f) => readFileSync(join(dir, f), "utf8"))
const runOf = async (dir: string) =>
  (await q<{ run_id: string; status: string; rows: number }>(join(dir, "landscape.db"), `
    SELECT run_id, status, (SELECT count(*) FROM rows) AS rows FROM runs`))[0]!

describe("sightline resume", () => {
  it("continues a killed run with its job: refuses a changed pipeline, is interrupted by Ctrl-C, then completes it as if never interrupted", async () => {
    const straight = tempDir()
    expect((await runChild(straight)).code).toBe(0)

    const dir = tempDir()
    const killed = await runChild(dir, { after: 1500, signal: "SIGKILL" })
    expect(killed.signal).toBe("SIGKILL")
    const { run_id: runId } = await runOf(dir)

    // The aggregation's trigger is part of the recorded configuration: the change is named, nothing is touched.
    const changed = await sightline(dir, ["resume", runId, "--job", job], undefined, { RUN_CHILD_WINDOW: "8" })
    expect(changed.code, changed.stderr).toBe(1)
    const [first, ...changes] = changed.stderr.trim().split("\n")
    expect(first).toMatch(new RegExp(`^sightline: cannot resume run ${runId}: the pipeline differs from the one it was recorded with`))
    expect(changes.length).toBeGreaterThan(0)
    expect(changes.every((c) => c.startsWith("  ") && c.includes("window"))).toBe(true)
    expect((await runOf(dir)).status).toBe("interrupted")

    const interrupted = await sightline(dir, ["resume", "latest", "--job", job], { after: 3000, signal: "SIGINT" })
    expect(interrupted.code, interrupted.stderr).toBe(130)
    expect(interrupted.stderr).toContain(`sightline: run ${runId} interrupted again; it is recorded as such and can be resumed again`)
    const between = await runOf(dir)
    expect(between.status).toBe("interrupted")
    expect(between.rows).toBeGreaterThanOrEqual(3000)
    expect(between.rows).toBeLessThan(rows)

    const done = await sightline(dir, ["resume", "latest", "--job", job])
    expect(done.code, done.stderr).toBe(0)
    expect(done.stdout).toContain(`Run ${runId} of pipeline "signals-dag": completed (resumed, attempt 3)`)
    expect(done.stdout).toMatch(/rows read\s+6,000 in [\d,]+ ms \(all attempts\)/)
    expect(outputs(dir)).toEqual(outputs(straight))
    expect(await runOf(dir)).toMatchObject({ status: "completed", rows })
    const report = await Effect.runPromise(Landscape.verify(runId).pipe(Effect.provide(LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))))
    expect(report.problems).toEqual([])

    const nothingLeft = await sightline(dir, ["resume", "latest", "--job", job, "--json"])
    expect(nothingLeft.code).toBe(1)
    expect(JSON.parse(nothingLeft.stdout)).toMatchObject({
      _tag: "failed",
      error: { message: `no interrupted or failed run of pipeline "signals-dag" in this Landscape` }
    })
  }, 180_000)

  it("says in one line what is wrong with the job module (exit 2)", async () => {
    const dir = tempDir()
    const notAJob = join(dir, "not-a-job.mjs")
    writeFileSync(notAJob, "export const pipeline = 1\n")
    const broken = join(dir, "broken.mjs")
    writeFileSync(broken, "throw new Error('cannot read settings')\n")
    const cases: ReadonlyArray<readonly [string, string]> = [
      [join(dir, "missing.ts"), `sightline: no job module at ${join(dir, "missing.ts")}`],
      [notAJob, `sightline: ${notAJob} exports no job: export default Job.make({ pipeline, layer }) (see Job.make)`],
      [broken, `sightline: cannot load ${broken}: cannot read settings`]
    ]
    for (const [module, message] of cases) {
      const r = await sightline(dir, ["resume", "latest", "--job", module])
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr.trim()).toBe(message)
    }
  }, 60_000)
})
