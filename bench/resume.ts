/**
 * `npm run bench -- resume`: how long `Orchestrator.resume` takes, on a 100,000-row run interrupted
 * at 90 % (BENCH_ROWS rows, default 100,000), from the call to the first new row reaching a step.
 * Issue 12's target: at most 1 s.
 *
 * The pipeline reads a CSV file (csv-parse; the rows of `bench/_identity.ts`) through three
 * pass-through transforms into a JSON Lines sink, with the full audit on SQLite. The CSV source
 * reads on from the checkpoint's byte offset (`Source.recordsAfter`); a source without that would
 * be read again from its start, the rows before the checkpoint skipped: the third anchor is what
 * that re-reading alone costs. Anchors, in the same round: a new run's time from the call to its
 * first row, and the source alone reading the rows before the checkpoint. BENCH_ROUNDS rounds
 * (default 5), medians.
 */
import { Effect, Exit, Layer, Schema, Stream } from "effect"
import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { freshLandscape, makeRow } from "./_identity.js"

const n = Number(process.env.BENCH_ROWS ?? 100_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const stopAt = Math.floor(n * 0.9)

const Row = Schema.Struct({
  id: Schema.NumberFromString,
  origin: Schema.String,
  destination: Schema.String,
  delay: Schema.NumberFromString,
  distance: Schema.NumberFromString
})
type Row = typeof Row.Type

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** The first time (performance.now(), ms) a step saw a row whose id is at least `from`. */
const watch = { from: 0, at: Number.NaN }

const pipelineIn = (dir: string, csv: string) =>
  Pipeline.make({ name: "resume-bench", source: Source.csv({ path: csv, schema: Row, name: "flights" }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("a", (r: Row) => {
      if (Number.isNaN(watch.at) && r.id >= watch.from) watch.at = performance.now()
      return Effect.succeed(r)
    })),
    Pipeline.transform(Pipeline.makeTransform("b", (r: Row) => Effect.succeed(r))),
    Pipeline.transform(Pipeline.makeTransform("c", (r: Row) => Effect.succeed(r))),
    Pipeline.toSinks({
      sinks: { out: Sink.jsonLines<Row>({ path: join(dir, "out.jsonl") }) },
      default: "out",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

/** Milliseconds from now until a step sees a row with id ≥ `from`, running `effect` to its end. */
const untilFirstRow = <A, E, R>(from: number, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    watch.from = from
    watch.at = Number.NaN
    const t0 = performance.now()
    const exit = yield* Effect.exit(effect)
    if (Exit.isFailure(exit)) return yield* Effect.dieMessage(`the run failed: ${exit.cause}`)
    return watch.at - t0
  })

const round = (csv: string) =>
  Effect.gen(function* () {
    const { db, dir } = yield* freshLandscape
    const layers = Layer.merge(LandscapeSqlite.layer({ filename: db }), Telemetry.layerDisabled)
    const pipeline = pipelineIn(dir, csv)
    return yield* Effect.gen(function* () {
      const firstRow = yield* untilFirstRow(0, Effect.exit(Orchestrator.run(pipeline, {
        onProgress: (p) => (p.rowsDone >= stopAt ? Effect.interrupt : Effect.void)
      })))
      const [stopped] = yield* Landscape.runs({ status: "interrupted", limit: 1 })
      if (stopped === undefined) return yield* Effect.dieMessage("the first run was not interrupted")
      const runId = stopped.runId
      const resumeFirstRow = yield* untilFirstRow(stopAt, Orchestrator.resume(pipeline, runId))
      const t0 = performance.now()
      yield* Stream.runDrain(Stream.take(Source.csv({ path: csv, schema: Row, name: "flights" }).records, stopAt))
      const sourceAlone = performance.now() - t0
      return { firstRow, resumeFirstRow, sourceAlone }
    }).pipe(Effect.provide(layers), Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })

const main = Effect.gen(function* () {
  const { dir } = yield* freshLandscape
  const csv = join(dir, "flights.csv")
  const lines = ["id,origin,destination,delay,distance"]
  for (let i = 0; i < n; i++) {
    const r = makeRow(i)
    lines.push(`${r.id},${r.origin},${r.destination},${r.delay},${r.distance}`)
  }
  writeFileSync(csv, lines.join("\n") + "\n")
  const results: Array<{ firstRow: number; resumeFirstRow: number; sourceAlone: number }> = []
  for (let i = 0; i < rounds; i++) {
    const r = yield* round(csv)
    results.push(r)
    console.log(`round ${i + 1}: resume to first new row ${r.resumeFirstRow.toFixed(0)} ms, new run to first row ${r.firstRow.toFixed(0)} ms, source alone over ${stopAt} rows ${r.sourceAlone.toFixed(0)} ms`)
  }
  const resume = median(results.map((r) => r.resumeFirstRow))
  const first = median(results.map((r) => r.firstRow))
  const source = median(results.map((r) => r.sourceAlone))
  console.log(`resume of a ${n}-row run interrupted at ${stopAt}: first new row after ${resume.toFixed(0)} ms (median of ${rounds}; target ≤ 1000 ms)`)
  console.log(`ratio resume-first-new-row/run-first-row ${(resume / first).toFixed(2)}`)
  console.log(`ratio resume-first-new-row/source-read-${stopAt}-rows ${(resume / source).toFixed(2)}`)
  console.log(`ratio resume-first-new-row/target-1000ms ${(resume / 1000).toFixed(2)}`)
  rmSync(dir, { recursive: true, force: true })
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
