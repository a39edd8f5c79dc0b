/**
 * The identity pipeline of `bench/engine.ts`: in-memory flight-like rows through three pass-through
 * transforms and one gate into two file sinks, with the full audit. Its rows are generated lazily,
 * so the source holds no memory of its own (the RSS comparison measures the engine, not the input).
 */
import { Effect, Layer, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, type Telemetry } from "../src/index.js"

export const Row = Schema.Struct({
  id: Schema.Number,
  origin: Schema.String,
  destination: Schema.String,
  delay: Schema.Number,
  distance: Schema.Number
})
export type Row = typeof Row.Type

const airports = ["LAX", "SFO", "JFK", "ORD", "ATL", "DFW", "SEA", "DEN", "BOS", "MIA"]

/** Row `i`: deterministic, about one in five is 15 minutes late or more. */
export const makeRow = (i: number) => ({
  id: i,
  origin: airports[i % 10]!,
  destination: airports[(i * 7 + 3) % 10]!,
  delay: ((i * 37) % 100) - 20,
  distance: 100 + ((i * 13) % 2400)
})

export function* rows(n: number): Generator<ReturnType<typeof makeRow>> {
  for (let i = 0; i < n; i++) yield makeRow(i)
}

const pass = (name: string) => Pipeline.makeTransform(name, (r: Row) => Effect.succeed(r))

/** The shapes of `bench/engine.ts`'s DAG comparison, over the identity pipeline's rows. */
export type Shape = "linear" | "fork-join" | "aggregate"

const sinksIn = (outDir: string) =>
  Pipeline.toSinks({
    sinks: {
      on_time: Sink.csv<Row>({ path: join(outDir, "on_time.csv") }),
      late: Sink.jsonLines<Row>({ path: join(outDir, "late.jsonl") })
    },
    default: "on_time",
    quarantine: Sink.jsonLines({ path: join(outDir, "quarantine.jsonl") })
  })
const lateGate = Pipeline.makeGate("delay", ["late"], (r: Row) => Effect.succeed(r.delay >= 15 ? "late" as const : Pipeline.Continue))

/** 3 pass-through transforms, 1 gate, 2 sinks (CSV and JSON Lines) and the quarantine sink. */
export const identityPipeline = (outDir: string, n: number) =>
  Pipeline.make({ name: "identity", source: Source.fromIterable({ records: { [Symbol.iterator]: () => rows(n) }, schema: Row }) }).pipe(
    Pipeline.transform(pass("a")),
    Pipeline.transform(pass("b")),
    Pipeline.transform(pass("c")),
    Pipeline.gate(lateGate),
    sinksIn(outDir)
  )

/**
 * The identity pipeline (`linear`), or the same three pass-through transforms with `b` and `c` in
 * the two branches of a fork-join joined by a coalesce (`fork-join`: requireAll, union), or
 * followed by a pass-through aggregation of 100 rows (`aggregate`: every row still reaches its sink).
 */
export const shapedPipeline = (outDir: string, n: number, shape: Shape) => {
  const start = Pipeline.make({ name: `identity-${shape}`, source: Source.fromIterable({ records: { [Symbol.iterator]: () => rows(n) }, schema: Row }) })
  if (shape === "linear") return identityPipeline(outDir, n)
  if (shape === "fork-join") {
    return start.pipe(
      Pipeline.transform(pass("a")),
      Pipeline.forkJoin({
        name: "fork",
        branches: { left: (b) => b.pipe(Pipeline.transform(pass("b"))), right: (b) => b.pipe(Pipeline.transform(pass("c"))) },
        coalesce: { name: "join", policy: Pipeline.requireAll, merge: "union" }
      }),
      Pipeline.gate(lateGate),
      sinksIn(outDir)
    )
  }
  return start.pipe(
    Pipeline.transform(pass("a")),
    Pipeline.transform(pass("b")),
    Pipeline.transform(pass("c")),
    Pipeline.aggregate(Pipeline.makeBatched("batch", { trigger: { count: 100 } }, (batch: ReadonlyArray<Row>) => Effect.succeed(batch))),
    Pipeline.gate(lateGate),
    sinksIn(outDir)
  )
}

/** Rows/s of `shape` over `n` rows on a fresh Landscape, telemetry as {@link identityRate}'s. */
export const shapeRate = <E>(n: number, shape: Shape, telemetry: (dir: string) => Layer.Layer<Telemetry.Telemetry, E>) =>
  Effect.gen(function* () {
    const { db, dir } = yield* freshLandscape
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(shapedPipeline(dir, n, shape)).pipe(
      Effect.provide(Layer.merge(telemetry(dir), LandscapeSqlite.layer({ filename: db })))
    )
    const seconds = (performance.now() - t0) / 1000
    rmSync(dir, { recursive: true, force: true })
    const written = Object.values(summary.rowsPerSink).reduce((a, b) => a + b, 0)
    if (summary.rowsRead !== n || written !== n) throw new Error(`the ${shape} pipeline read ${summary.rowsRead} rows and wrote ${written}, expected ${n}`)
    return n / seconds
  })

/** An empty, migrated Landscape file in a fresh folder. */
export const freshLandscape = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "sightline-bench-engine-"))
  const db = join(dir, "landscape.db")
  yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
  return { dir, db }
})

/**
 * Rows/s of the identity pipeline over `n` rows on a fresh Landscape, with the telemetry layer
 * `telemetry(dir)` (files go in `dir`). Opening and closing the layers count (the telemetry drain
 * is part of the cost); migrating the Landscape does not. Throws when a row is missing.
 */
export const identityRate = <E>(n: number, telemetry: (dir: string) => Layer.Layer<Telemetry.Telemetry, E>) =>
  Effect.gen(function* () {
    const { db, dir } = yield* freshLandscape
    const t0 = performance.now()
    const summary = yield* Orchestrator.run(identityPipeline(dir, n)).pipe(
      Effect.provide(Layer.merge(telemetry(dir), LandscapeSqlite.layer({ filename: db })))
    )
    const seconds = (performance.now() - t0) / 1000
    rmSync(dir, { recursive: true, force: true })
    if (summary.rowsRead !== n) throw new Error(`the identity pipeline read ${summary.rowsRead} rows, expected ${n}`)
    return n / seconds
  })
