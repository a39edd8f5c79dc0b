/**
 * The Landscape `bench/landscape-read.ts` reads: BENCH_READ_ROWS source rows (default 1,000,000)
 * run through the real engine (`Orchestrator.run`, `LandscapeSqlite.layer`, telemetry disabled) in
 * a pipeline shaped like the main job's: `validate` (quarantines one row in 50, with a reason),
 * `enrich`, gate `delay` (about one row in five to `late`), sinks `on_time` (CSV) and `late` (JSON
 * Lines). Built once into `out/bench/landscape-read-<rows>.db` and reused while it exists.
 */
import { Data, Effect, Layer } from "effect"
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs"
import { join } from "node:path"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry } from "../src/index.js"
import { Row, rows } from "./_identity.js"

class Invalid extends Data.TaggedError("Invalid")<{ readonly message: string }> {}

const pipeline = (outDir: string, n: number) =>
  Pipeline.make({ name: "bench-read", source: Source.fromIterable({ name: "flights", records: { [Symbol.iterator]: () => rows(n) }, schema: Row }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("validate", (r: Row) =>
      r.id % 50 === 7 ? Effect.fail(new Invalid({ message: `distance ${r.distance} miles is out of range` })) : Effect.succeed(r))),
    Pipeline.transform(Pipeline.makeTransform("enrich", (r: Row) => Effect.succeed({ ...r, route: `${r.origin}-${r.destination}` }))),
    Pipeline.gate(Pipeline.makeGate("delay", ["late"], (r: Row & { route: string }) => Effect.succeed(r.delay >= 15 ? "late" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: {
        on_time: Sink.csv<Row & { route: string }>({ path: join(outDir, "on_time.csv") }),
        late: Sink.jsonLines<Row & { route: string }>({ path: join(outDir, "late.jsonl") })
      },
      default: "on_time",
      quarantine: Sink.jsonLines({ path: join(outDir, "quarantine.jsonl") })
    })
  )

/** The path of the benchmark's Landscape of `n` rows, built by the engine if it is not there yet. */
export const landscapeOf = (n: number) =>
  Effect.gen(function* () {
    const dir = join("out", "bench")
    const db = join(dir, `landscape-read-${n}.db`)
    if (existsSync(db)) return db
    mkdirSync(dir, { recursive: true })
    const building = `${db}.building`
    for (const suffix of ["", "-wal", "-shm"]) rmSync(building + suffix, { force: true })
    console.log(`building ${db}: ${n.toLocaleString("en-US")} rows through the engine (once; reused while the file exists)`)
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(pipeline(join(dir, "sinks"), n)).pipe(
      Effect.provide(Layer.merge(Telemetry.layerDisabled, LandscapeSqlite.layer({ filename: building })))
    )
    console.log(`built in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${summary.rowsRead} rows, ${summary.quarantined} quarantined`)
    // Closing the last connection checkpoints the WAL into the file; move whatever is left with it.
    for (const suffix of ["", "-wal", "-shm"]) if (existsSync(building + suffix)) renameSync(building + suffix, db + suffix)
    return db
  })

if (process.argv[1]?.endsWith("_landscape-build.ts")) {
  await Effect.runPromise(landscapeOf(Number(process.env.BENCH_READ_ROWS ?? 1_000_000)))
}
