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
 *
 * The server: BENCH_POSTGRES_URL (a superuser's URL, no database), else a throwaway cluster started
 * as the tests start theirs (`test/support/postgres.ts`; Debian's `postgresql`), with `fsync=off`,
 * so the figures compare work, not disks. BENCH_ROUNDS rounds (default 3), the configurations
 * alternating within each; medians count. Each database is new and migrated before it is timed.
 */
import { Effect, Layer, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Pg from "pg"
import { Landscape, LandscapePg, LandscapeSqlite, Orchestrator, Telemetry } from "../src/index.js"
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

const program = Effect.gen(function* () {
  const r = { raw: [] as Array<number>, pg: [] as Array<number>, sqlite: [] as Array<number> }
  for (let i = 0; i < rounds; i++) {
    const rawUrl = yield* freshDatabase
    r.raw.push(yield* Effect.promise(() => rawPg(rawUrl, n)))
    r.pg.push(yield* timed(LandscapePg.layer({ url: Redacted.make(yield* freshDatabase) })))
    const dir = mkdtempSync(join(tmpdir(), "sightline-bench-pg-sqlite-"))
    r.sqlite.push(yield* timed(LandscapeSqlite.layer({ filename: join(dir, "landscape.db") })))
    rmSync(dir, { recursive: true, force: true })
    console.log(`round ${i + 1}: raw-pg ${fmt(r.raw[i]!)}  engine-pg ${fmt(r.pg[i]!)}  engine-sqlite ${fmt(r.sqlite[i]!)} rows/s`)
  }
  const m = { raw: median(r.raw), pg: median(r.pg), sqlite: median(r.sqlite) }
  console.log(`raw-pg         ${fmt(m.raw)} rows/s (median of ${rounds}, ${fmt(n)} rows)`)
  console.log(`engine-pg      ${fmt(m.pg)} rows/s (LandscapePg, telemetry off)`)
  console.log(`engine-sqlite  ${fmt(m.sqlite)} rows/s (LandscapeSqlite, telemetry off)`)
  console.log(`ratio engine-pg/raw-pg ${(m.pg / m.raw).toFixed(2)}`)
  console.log(`ratio engine-pg/engine-sqlite ${(m.pg / m.sqlite).toFixed(2)}`)
})

try {
  await Effect.runPromise(program)
} finally {
  cluster?.stop()
}
