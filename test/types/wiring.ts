/**
 * Compile-time tests (DESIGN.md invariant 1): checked by `tsc` in `npm test`, never executed.
 * Each `@ts-expect-error` fails the type check if the line below it ever compiles.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { CallScope, DistributedRun, Job, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry, TestExporter } from "../../src/index.js"
import { ordersPipeline } from "../helpers.js"

const pipeline = ordersPipeline("out/types")
const TelemetryLive = TestExporter.layer()
const LandscapeLive = LandscapeSqlite.layer({ filename: "out/types/landscape.db" })

export const runs = () => {
  // Neither service provided: does not compile.
  // @ts-expect-error Telemetry and Landscape are missing
  void Effect.runPromise(Orchestrator.run(pipeline))

  // Without Telemetry: does not compile.
  // @ts-expect-error Telemetry is missing
  void Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(LandscapeLive)))

  // Without Landscape: does not compile.
  // @ts-expect-error Landscape is missing
  void Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(TelemetryLive)))

  // Telemetry switched off is still an explicit layer, and then it compiles.
  void Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(Layer.merge(Telemetry.layerDisabled, LandscapeLive))))

  // With both: compiles.
  void Effect.runPromise(Orchestrator.run(pipeline).pipe(Effect.provide(Layer.merge(TelemetryLive, LandscapeLive))))
}

export const distributedRuns = (runId: string) => {
  // A distributed run's workers need both services too, as does starting one.
  // @ts-expect-error Telemetry is missing
  void Effect.runPromise(DistributedRun.work(pipeline, { runId }).pipe(Effect.provide(LandscapeLive)))
  // @ts-expect-error Landscape is missing
  void Effect.runPromise(DistributedRun.start(pipeline, { partitions: 2 }).pipe(Effect.provide(TelemetryLive)))
  void Effect.runPromise(DistributedRun.work(pipeline, { runId }).pipe(Effect.provide(Layer.merge(TelemetryLive, LandscapeLive))))
  // It fails as a single-process run does: with a RunError.
  const failures: Effect.Effect<unknown, Orchestrator.RunError, Landscape.Landscape | Telemetry.Telemetry> = DistributedRun.work(pipeline, { runId })
  return failures
}

export const emits = () => {
  // emit never fails: its error channel is `never`.
  const emitted: Effect.Effect<void, never, Telemetry.Telemetry> = Telemetry.flush
  // A Landscape operation can fail, and only with LandscapeError.
  const listed: Effect.Effect<unknown, Landscape.LandscapeError, Landscape.Landscape> = Landscape.listRuns()
  // @ts-expect-error a Landscape failure cannot be typed away as never
  const swallowed: Effect.Effect<unknown, never, Landscape.Landscape> = Landscape.listRuns()

  // recordCall needs a CallScope, which only the engine provides: outside a pipeline it does not run.
  const call = CallScope.recordCall({ callType: "http", status: "success", attributes: {}, latencyMs: 1 })
  // @ts-expect-error CallScope (and Landscape, Telemetry) are missing
  void Effect.runPromise(call.pipe(Effect.provide(Layer.merge(TelemetryLive, LandscapeLive))))
  return [emitted, listed, swallowed]
}

class Airports extends Context.Tag("test/Airports")<Airports, { readonly name: (code: string) => string }>() {}

export const jobs = () => {
  // A job's layer provides everything a run needs, like `Orchestrator.run`'s: without Telemetry it does not compile.
  // @ts-expect-error Telemetry is missing
  const noTelemetry = Job.make({ pipeline, layer: LandscapeLive })
  // @ts-expect-error Landscape is missing
  const noLandscape = Job.make({ pipeline, layer: TelemetryLive })
  const complete = Job.make({ pipeline, layer: Layer.merge(TelemetryLive, LandscapeLive) })

  // Nor does a job whose layer misses a service that the pipeline's steps require.
  const named = Pipeline.make({ name: "airports", source: Source.fromIterable({ records: [], schema: Schema.Struct({ code: Schema.String }) }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("name", (r: { code: string }) => Effect.map(Airports, (a) => ({ code: r.code, name: a.name(r.code) })))),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: "out/types/airports.jsonl" }) }, default: "out", quarantine: Sink.jsonLines({ path: "out/types/q.jsonl" }) })
  )
  // @ts-expect-error Airports is missing
  const noAirports = Job.make({ pipeline: named, layer: Layer.merge(TelemetryLive, LandscapeLive) })
  const withAirports = Job.make({
    pipeline: named,
    layer: Layer.mergeAll(TelemetryLive, LandscapeLive, Layer.succeed(Airports, { name: (code) => code }))
  })
  return [noTelemetry, noLandscape, complete, noAirports, withAirports]
}
