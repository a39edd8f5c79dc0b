/**
 * `npm run bench -- landscape-pg`: the engine on PostgreSQL against the storage it writes to, in
 * one run.
 *
 * - `raw-pg` (the anchor): the identity pipeline's audit written by hand with `pg`, multi-row
 *   INSERTs, 256 source rows per transaction (`bench/_raw-pg.ts`).
 * - `engine-pg`: the identity pipeline of `bench/engine.ts` (3 pass-through transforms, 1 gate,
 *   2 file sinks) over BENCH_ROWS in-memory rows (default 20,000) through `Orchestrator.run` on
 *   `LandscapePg`, telemetry off (this measures the Landscape). Target ≥ 0.5× raw.
 * - `engine-sqlite`: the same on `LandscapeSqlite`, for scale (no target).
 * - `workers-1`, `workers-2`: the same pipeline as one distributed run (`DistributedRun`, 4
 *   partitions) worked on by 1 and by 2 worker processes (`bench/_worker.ts`), timed from the moment
 *   every worker is ready (process started, layer open) to the run's end. Target: 2 workers ≥ 1.6×
 *   1 worker. On this machine the 2 workers share its 2 cores with the PostgreSQL server.
 *
 * The server: BENCH_POSTGRES_URL (a superuser's URL, no database), else a throwaway cluster started
 * as the tests start theirs (`test/support/postgres.ts`; Debian's `postgresql`), with `fsync=off`,
 * so the figures compare work, not disks. BENCH_ROUNDS rounds (default 3), the configurations
 * alternating within each; medians count. Each database is new and migrated before it is timed.
 */
import { Effect, Layer, Redacted } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Pg from "pg"
import { DistributedRun, Landscape, LandscapePg, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
import { startCluster } from "../test/support/postgres.js"
import { identityPipeline } from "./_identity.js"
import { rawPg } from "./_raw-pg.js"

const n = Number(process.env.BENCH_ROWS ?? 20_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const fmt = (x: number) => x.toLocaleString("en-US", { maximumFractionDigits: 0 })

const given = process.env.BENCH_POSTGRES_URL
const cluster = given === undefined ? await startCluster() : undefined
if (given === undefined && cluster === undefined) {
  console.error("landscape-pg needs PostgreSQL: apt-get install postgresql, or set BENCH_POSTGRES_URL")
  process.exit(2)
}
const server = given ?? cluster!.url

let databases = 0
/** A new database, migrated through `LandscapePg`; its URL. */
const freshDatabase = Effect.gen(function* () {
  const name = `bench_${process.pid}_${databases++}`
  yield* Effect.promise(async () => {
    const admin = new Pg.Client({ connectionString: `${server}/postgres` })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
  })
  const url = `${server}/${name}`
  yield* Effect.provide(Landscape.listRuns(), LandscapePg.layer({ url: Redacted.make(url) }))
  return url
})

const timed = (landscape: Layer.Layer<Landscape.Landscape, Landscape.LandscapeError>) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-pg-"))
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(identityPipeline(dir, n)).pipe(Effect.provide(Layer.merge(Telemetry.layerDisabled, landscape)))
    const seconds = (performance.now() - t0) / 1000
    rmSync(dir, { recursive: true, force: true })
    if (summary.rowsRead !== n) throw new Error(`engine read ${summary.rowsRead} rows, expected ${n}`)
    return n / seconds
  })

/** One worker process, resolved once it says `ready`; `work(runId)` hands it the run and resolves when it exits. */
const startWorker = (url: string, dir: string) =>
  new Promise<{ readonly work: (runId: string) => Promise<number | null> }>((ready, failed) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "_worker.ts"), url, dir, String(n)], { stdio: ["pipe", "pipe", "inherit"] })
    const exit = new Promise<number | null>((resolve) => child.on("exit", resolve))
    child.on("error", failed)
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) ready({ work: (runId) => (child.stdin.end(`${runId}\n`), exit) })
    })
  })

/** Rows per second of one distributed run of the identity pipeline by `workers` processes. */
const distributed = (workers: number) =>
  Effect.gen(function* () {
    const url = yield* freshDatabase
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-workers-"))
    const ready = yield* Effect.promise(() => Promise.all(Array.from({ length: workers }, () => startWorker(url, dir))))
    const layers = Layer.merge(Telemetry.layerDisabled, LandscapePg.layer({ url: Redacted.make(url) }))
    const t0 = performance.now()
    const started = yield* DistributedRun.start(identityPipeline(dir, n), { partitions: 4 }).pipe(Effect.provide(layers))
    const codes = yield* Effect.promise(() => Promise.all(ready.map((w) => w.work(started.runId))))
    const seconds = (performance.now() - t0) / 1000
    const run = yield* Landscape.getRun(started.runId).pipe(Effect.provide(layers))
    rmSync(dir, { recursive: true, force: true })
    if (codes.some((c) => c !== 0) || run._tag === "None" || run.value.status !== "completed" || run.value.rowsRead !== n) {
      throw new Error(`distributed run with ${workers} workers: exits ${codes.join(", ")}, run ${JSON.stringify(run)}`)
    }
    return n / seconds
  })

const program = Effect.gen(function* () {
  const r = { raw: [] as Array<number>, pg: [] as Array<number>, sqlite: [] as Array<number>, w1: [] as Array<number>, w2: [] as Array<number> }
  for (let i = 0; i < rounds; i++) {
    const rawUrl = yield* freshDatabase
    r.raw.push(yield* Effect.promise(() => rawPg(rawUrl, n)))
    r.pg.push(yield* timed(LandscapePg.layer({ url: Redacted.make(yield* freshDatabase) })))
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-pg-sqlite-"))
    r.sqlite.push(yield* timed(LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })))
    rmSync(dir, { recursive: true, force: true })
    r.w1.push(yield* distributed(1))
    r.w2.push(yield* distributed(2))
    console.log(
      `round ${i + 1}: raw-pg ${fmt(r.raw[i]!)}  engine-pg ${fmt(r.pg[i]!)}  engine-sqlite ${fmt(r.sqlite[i]!)}  ` +
      `workers-1 ${fmt(r.w1[i]!)}  workers-2 ${fmt(r.w2[i]!)} rows/s`
    )
  }
  const m = { raw: median(r.raw), pg: median(r.pg), sqlite: median(r.sqlite), w1: median(r.w1), w2: median(r.w2) }
  console.log(`raw-pg         ${fmt(m.raw)} rows/s (median of ${rounds}, ${fmt(n)} rows)`)
  console.log(`engine-pg      ${fmt(m.pg)} rows/s (LandscapePg, telemetry off)`)
  console.log(`engine-sqlite  ${fmt(m.sqlite)} rows/s (LandscapeSqlite, telemetry off)`)
  console.log(`ratio engine-pg/raw-pg ${(m.pg / m.raw).toFixed(2)}`)
  console.log(`workers-1      ${fmt(m.w1)} rows/s (DistributedRun, 4 partitions, 1 worker process)`)
  console.log(`workers-2      ${fmt(m.w2)} rows/s (DistributedRun, 4 partitions, 2 worker processes)`)
  console.log(`ratio engine-pg/engine-sqlite ${(m.pg / m.sqlite).toFixed(2)}`)
  console.log(`ratio workers-2/workers-1 ${(m.w2 / m.w1).toFixed(2)}`)
})

try {
  await Effect.runPromise(program)
} finally {
  cluster?.stop()
}
