/**
 * `npm run bench -- landscape-read`: the Landscape's read side on a Landscape of 1,000,000 source
 * rows written by the real engine (`bench/_landscape-build.ts`, built once and reused), each
 * measure against the same read written by hand with better-sqlite3 on the same file
 * (`bench/_landscape-hand.ts`):
 *
 * - `explain` by row id and by row index: p50/p99 over BENCH_SAMPLES random rows (default 1,000),
 *   each call timed inside one Effect program (as a program using the API runs it);
 * - `findRows` by a field value (origin = "LAX", 100 rows; the field index is created before timing);
 * - `query`: the first page, and a page 1,000,000 records deep (100 records each);
 * - `runSummary`; `verify` (rows/s) against reading and re-hashing the same records;
 * - the CLI's `explain` (wall time of `node bin/sightline.mjs explain …`, start-up included)
 *   against a Node process doing the hand-written explain.
 *
 * Targets (issue 10): explain p99 ≤ 10 ms and ≤ 2× hand SQL, query pages ≤ 50 ms, verify ≥ 100,000
 * rows/s, CLI explain ≤ 400 ms. BENCH_ROUNDS rounds (default 3), API and anchor alternating; medians.
 * The machine is shared: figures are noisy, compare the ratios.
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { Landscape, LandscapeSqlite } from "../src/index.js"
import { openHand } from "./_landscape-hand.js"
import { landscapeOf } from "./_landscape-build.js"

const n = Number(process.env.BENCH_READ_ROWS ?? 1_000_000)
const samples = Number(process.env.BENCH_SAMPLES ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const quantile = (xs: ReadonlyArray<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(p * xs.length) - 1)]!
const f = (x: number, digits = 2) => x.toFixed(digits)

/** Times each of `count` calls of an Effect inside one Effect (as a program using the API runs it); durations in ms. */
const timedEffect = <A>(count: number, once: (i: number) => Effect.Effect<A, Landscape.LandscapeError, Landscape.Landscape>) =>
  api(Effect.gen(function* () {
    const out: Array<number> = []
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      yield* once(i)
      out.push(performance.now() - t)
    }
    return out
  }))

/** Times `once` `count` times; returns each duration in ms. */
const timed = async (count: number, once: (i: number) => Promise<unknown> | unknown) => {
  const out: Array<number> = []
  for (let i = 0; i < count; i++) {
    const t = performance.now()
    await once(i)
    out.push(performance.now() - t)
  }
  return out
}

const db = await Effect.runPromise(landscapeOf(n))
const runtime = ManagedRuntime.make(Layer.orDie(LandscapeSqlite.layer({ filename: db })))
const api = <A>(effect: Effect.Effect<A, Landscape.LandscapeError, Landscape.Landscape>) => runtime.runPromise(effect)
const hand = openHand(db)
const [run] = await api(Landscape.runs({ pipeline: "bench-read", limit: 1 }))
const runId = run!.runId
console.log(`Landscape ${db}: run ${runId}, ${run!.rowsRead?.toLocaleString("en-US")} rows`)

const indexes = Array.from({ length: samples }, (_, i) => Math.floor(((i * 7919 + 13) % 1_000_003) / 1_000_003 * n))
const rowIds = indexes.map((i) => hand.explainByIndex(runId, i).token.row_id)

const results: Record<string, { api: Array<number>; hand: Array<number> }> = {}
const record = (name: string, a: number, h: number) => {
  const r = (results[name] ??= { api: [], hand: [] })
  r.api.push(a)
  r.hand.push(h)
}

await api(Landscape.findRows({ runId, where: { origin: "LAX" }, limit: 1 })) // creates the field index once
// One untimed pass of each explain on both sides first: finding `rowIds` above read the sampled rows'
// pages into the hand-written side's page cache only, and the API's code paths are not yet compiled,
// so round 1 would time a cold start of one side against a warm other.
await timedEffect(samples, (i) => Landscape.explain({ runId, rowId: rowIds[i]! }))
await timedEffect(samples, (i) => Landscape.explain({ runId, rowIndex: indexes[i]! }))
await timed(samples, (i) => hand.explainByRow(runId, rowIds[i]!))
for (let round = 0; round < rounds; round++) {
  const byRowApi = await timedEffect(samples, (i) => Landscape.explain({ runId, rowId: rowIds[i]! }))
  const byRowHand = await timed(samples, (i) => hand.explainByRow(runId, rowIds[i]!))
  record("explain-row-p50", quantile(byRowApi, 0.5), quantile(byRowHand, 0.5))
  record("explain-row-p99", quantile(byRowApi, 0.99), quantile(byRowHand, 0.99))
  const byIndexApi = await timedEffect(samples, (i) => Landscape.explain({ runId, rowIndex: indexes[i]! }))
  const byIndexHand = await timed(samples, (i) => hand.explainByIndex(runId, indexes[i]!))
  record("explain-index-p50", quantile(byIndexApi, 0.5), quantile(byIndexHand, 0.5))
  record("explain-index-p99", quantile(byIndexApi, 0.99), quantile(byIndexHand, 0.99))
  record("findRows", median(await timedEffect(20, () => Landscape.findRows({ runId, where: { origin: "LAX" }, limit: 100 }))), median(await timed(20, () => hand.findRows(runId, "LAX", 100))))
  record("query-first-page", median(await timedEffect(10, () => Landscape.query({ runIds: [runId], limit: 100 }))), median(await timed(10, () => hand.statesPage(runId, 0, -1, 100))))
  console.log(`round ${round + 1}: explain by row p99 ${f(quantile(byRowApi, 0.99))} ms (hand ${f(quantile(byRowHand, 0.99))}), by index p99 ${f(quantile(byIndexApi, 0.99))} ms (hand ${f(quantile(byIndexHand, 0.99))})`)
}

// A page 1,000,000 records deep: page there with 10,000-record pages, then time 100-record pages from that cursor.
let token: string | null = null
for (let skipped = 0; skipped < 1_000_000; skipped += 10_000) {
  const page: Landscape.AuditPage = await api(Landscape.query({ runIds: [runId], limit: 10_000, ...(token === null ? {} : { continuationToken: token }) }))
  token = page.continuationToken
}
const cursor = JSON.parse(Buffer.from(token!, "base64url").toString("utf8")) as { seq: number; ord: number }
for (let round = 0; round < rounds; round++) {
  record("query-deep-page", median(await timedEffect(10, () => Landscape.query({ runIds: [runId], limit: 100, continuationToken: token! }))), median(await timed(10, () => hand.statesPage(runId, cursor.seq, cursor.ord, 100))))
}
for (let round = 0; round < Math.min(rounds, 2); round++) {
  record("runSummary", median(await timed(1, () => api(Landscape.runSummary(runId)))), median(await timed(1, () => hand.summary(runId))))
}

// verify: rows per second, against reading the same records and re-hashing each source record.
let verifyRate = 0
let handRate = 0
for (let round = 0; round < Math.min(rounds, 2); round++) {
  let t = performance.now()
  const report = await api(Landscape.verify(runId))
  const apiSeconds = (performance.now() - t) / 1000
  if (!report.ok) throw new Error(`verify found problems: ${JSON.stringify(report.problems.slice(0, 3))}`)
  t = performance.now()
  const rows = hand.readAndHash(runId)
  const handSeconds = (performance.now() - t) / 1000
  verifyRate = Math.max(verifyRate, report.counts.rows / apiSeconds)
  handRate = Math.max(handRate, rows / handSeconds)
  record("verify-seconds", apiSeconds, handSeconds)
  console.log(`verify round ${round + 1}: ${Math.round(report.counts.rows / apiSeconds).toLocaleString("en-US")} rows/s (${f(apiSeconds, 1)} s), read-and-hash ${Math.round(rows / handSeconds).toLocaleString("en-US")} rows/s`)
}

// The CLI: wall time of one `sightline explain`, start-up included, against a Node process doing the hand-written explain.
const bin = join(import.meta.dirname, "..", "bin", "sightline.mjs")
spawnSync(process.execPath, [bin, "--version"]) // builds the bundle if it is stale, outside the timing
const handScript = `const D=require("better-sqlite3");const d=new D(process.argv[1],{readonly:true});` +
  `const t=d.prepare("SELECT t.token_id FROM rows r JOIN tokens t ON t.row_id=r.row_id WHERE r.run_id=? AND r.row_index=?").get(process.argv[2],Number(process.argv[3]));` +
  `console.log(JSON.stringify({s:d.prepare("SELECT * FROM node_states WHERE token_id=? ORDER BY step_index").all(t.token_id),r:d.prepare("SELECT * FROM routing_events WHERE token_id=?").all(t.token_id)}))`
for (let round = 0; round < rounds; round++) {
  const cli = await timed(5, (i) => {
    const r = spawnSync(process.execPath, [bin, "explain", runId, "--index", String(indexes[i]!), "--db", db], { encoding: "utf8" })
    if (r.status !== 0) throw new Error(r.stderr)
  })
  const plain = await timed(5, (i) => spawnSync(process.execPath, ["-e", handScript, db, runId, String(indexes[i]!)], { cwd: join(import.meta.dirname, "..") }))
  record("cli-explain", median(cli), median(plain))
}
hand.close()
await runtime.dispose()

console.log("")
for (const [name, r] of Object.entries(results)) {
  const unit = name === "verify-seconds" ? "s " : "ms"
  console.log(`${name.padEnd(18)} ${f(median(r.api)).padStart(9)} ${unit}   hand-written ${f(median(r.hand)).padStart(9)} ${unit}   (medians of ${r.api.length})`)
}
console.log(`verify             ${Math.round(verifyRate).toLocaleString("en-US")} rows/s   read-and-hash ${Math.round(handRate).toLocaleString("en-US")} rows/s (best round)`)
console.log("")
const ratio = (name: string) => median(results[name]!.api) / median(results[name]!.hand)
for (const name of ["explain-row-p99", "explain-index-p99", "findRows", "query-first-page", "query-deep-page", "runSummary"]) console.log(`ratio ${name}/hand-sql ${f(ratio(name))}`)
console.log(`ratio verify/read-and-hash ${f(verifyRate / handRate)}`)
console.log(`ratio cli-explain/node-hand-sql ${f(ratio("cli-explain"))}`)
const targets: Array<[string, boolean]> = [
  ["explain p99 ≤ 10 ms", Math.max(median(results["explain-row-p99"]!.api), median(results["explain-index-p99"]!.api)) <= 10],
  ["explain p99 ≤ 2× hand SQL", Math.max(ratio("explain-row-p99"), ratio("explain-index-p99")) <= 2],
  ["query pages ≤ 50 ms", Math.max(median(results["query-first-page"]!.api), median(results["query-deep-page"]!.api)) <= 50],
  ["verify ≥ 100,000 rows/s", verifyRate >= 100_000],
  ["CLI explain ≤ 400 ms wall", median(results["cli-explain"]!.api) <= 400]
]
for (const [target, met] of targets) console.log(`target ${target}: ${met ? "met" : "NOT met"}`)
