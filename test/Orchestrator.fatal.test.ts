/**
 * DESIGN.md invariant 3 through the production path: a Landscape failure during a call made by
 * plugin code ends the run with `LandscapeError` however the plugin tries to carry on, wherever
 * the call is made (a step, a source, a sink). The Landscape is a real SQLite file whose `calls`
 * table refuses inserts (a trigger), so every other write works.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Stream } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { CallScope, JsonLinesExporter, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, Telemetry, TestExporter } from "../src/index.js"
import { Order, querySqlite, tempDir, threeOrders } from "./helpers.js"

const swallows = {
  catchAll: (call: Effect.Effect<unknown>) => Effect.asVoid(Effect.catchAll(call, () => Effect.void)),
  catchAllCause: (call: Effect.Effect<unknown>) => Effect.asVoid(Effect.catchAllCause(call, () => Effect.void)),
  ignore: (call: Effect.Effect<unknown>) => Effect.ignore(call),
  orDieThenCatchAllDefect: (call: Effect.Effect<unknown>) => Effect.asVoid(Effect.catchAllDefect(Effect.orDie(call), () => Effect.void)),
  forkDaemon: (call: Effect.Effect<unknown>) => Effect.asVoid(Effect.forkDaemon(call))
} as const
type Swallow = keyof typeof swallows

/** A call that plugin code makes, then tries to swallow whatever happens to it. */
const swallowedCall = (swallow: Swallow) =>
  Effect.flatMap(Effect.context<CallScope.CallScope | Landscape.Landscape | Telemetry.Telemetry>(), (context) =>
    swallows[swallow](Effect.provide(CallScope.recordCall({ callType: "http", status: "success", attributes: { "http.request.method": "GET" }, latencyMs: 1 }), context)))

const quarantine = (dir: string) => Sink.jsonLines({ path: join(dir, "q.jsonl") })

const pipelines = {
  step: (dir: string, swallow: Swallow) =>
    Pipeline.make({ name: "in-step", source: Source.fromIterable({ records: threeOrders, schema: Order }) }).pipe(
      Pipeline.transform(Pipeline.makeTransform("lookup", (o: Order) => Effect.as(swallowedCall(swallow), o))),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: quarantine(dir) })
    ),
  source: (dir: string, swallow: Swallow) =>
    Pipeline.make({
      name: "in-source",
      source: Source.make({
        name: "api",
        schema: Order,
        records: Stream.concat(Stream.execute(swallowedCall(swallow)), Stream.fromIterable(threeOrders.map((raw) => ({ raw }))))
      })
    }).pipe(
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: quarantine(dir) })
    ),
  sink: (dir: string, swallow: Swallow) =>
    Pipeline.make({ name: "in-sink", source: Source.fromIterable({ records: threeOrders, schema: Order }) }).pipe(
      Pipeline.toSinks({
        sinks: {
          out: Sink.make<Order, CallScope.CallScope | Landscape.Landscape | Telemetry.Telemetry>({
            open: () =>
              Effect.map(Effect.context<CallScope.CallScope | Landscape.Landscape | Telemetry.Telemetry>(), (context) => ({
                write: () => Effect.provide(swallowedCall(swallow), context)
              }))
          })
        },
        default: "out",
        quarantine: quarantine(dir)
      })
    )
} as const

/** The `LandscapeError` in an exit, as a failure or a defect. */
const landscapeErrorOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit)
    ? Option.getOrUndefined(Cause.find(exit.cause, (c) => {
      const e = c._tag === "Fail" ? c.error : c._tag === "Die" ? c.defect : undefined
      return e instanceof Landscape.LandscapeError ? Option.some(e) : Option.none()
    }))
    : undefined

describe("a Landscape failure in plugin code cannot be swallowed (invariant 3)", () => {
  for (const where of ["step", "source", "sink"] as const) {
    for (const swallow of Object.keys(swallows) as Array<Swallow>) {
      it.live(`${where} × ${swallow}: the run fails with LandscapeError and is not recorded completed`, () =>
        Effect.gen(function* () {
          const dir = tempDir()
          const db = join(dir, "landscape.db")
          yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
          yield* querySqlite(db, `CREATE TRIGGER no_calls BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'calls are read-only'); END`)
          const TelemetryLive = Telemetry.layer({ exporters: [JsonLinesExporter.make({ path: join(dir, "events.jsonl"), append: false })], exporterQueue: { strategy: "block" } })
          const exit = yield* Orchestrator.run(pipelines[where](dir, swallow)).pipe(
            Effect.provide(Layer.merge(TelemetryLive, LandscapeSqlite.layer({ filename: db }))),
            Effect.exit
          )
          expect(landscapeErrorOf(exit)).toMatchObject({ _tag: "LandscapeError", operation: "recordCall" })
          const [run] = yield* querySqlite<{ status: string; error: string }>(db, "SELECT status, error FROM runs")
          expect(run).toMatchObject({ status: "failed" })
          expect(run!.error).toContain("calls are read-only")
          const open = yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM operations WHERE status = 'running'")
          expect(open).toEqual([{ n: 0 }])
          const finished = readFileSync(join(dir, "events.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e._tag === "RunFinished")
          expect(finished).toMatchObject([{ status: "failed" }])
        }))
    }
  }

  it.live("with a working Landscape, a call in a step is recorded under its node state", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      yield* Orchestrator.run(pipelines.step(dir, "catchAll")).pipe(
        Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db })))
      )
      const calls = yield* querySqlite<{ state_id: string | null; operation_id: string | null; status: string }>(db,
        "SELECT calls.state_id, calls.operation_id, node_states.status FROM calls JOIN node_states USING (state_id)")
      expect(calls.length).toBe(3)
      expect(calls.every((c) => c.state_id !== null && c.operation_id === null && c.status === "completed")).toBe(true)
    }))
})
