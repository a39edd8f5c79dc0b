/**
 * Definition errors through the real engine: an inconsistent pipeline is refused with a typed
 * `PipelineDefinitionError` before anything is written to the Landscape or a sink. (Literal names
 * are also checked at compile time: `test/types/pipeline.ts`.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { tempDir } from "./helpers.js"

const Row = Schema.Struct({ n: Schema.Number })
type Row = typeof Row.Type
const source = Source.fromIterable({ records: [{ n: 1 }], schema: Row })

/** Names computed at run time: the compiler cannot check them. */
const named = (name: string) => Pipeline.makeTransform(name, (r: Row) => Effect.succeed(r))

const refused = (build: (dir: string) => Pipeline.Pipeline<never>) =>
  Effect.gen(function* () {
    const dir = tempDir()
    const db = join(dir, "l.db")
    const exit = yield* Effect.exit(Orchestrator.run(build(dir)).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db })))))
    const runs = yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
    expect(runs).toEqual([])
    expect(existsSync(join(dir, "out.jsonl")) || existsSync(join(dir, "q.jsonl"))).toBe(false)
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    expect(error?._tag).toBe("PipelineDefinitionError")
    return error!.message
  })

const sinks = (dir: string) => ({
  sinks: { out: Sink.jsonLines<Row>({ path: join(dir, "out.jsonl") }) },
  default: "out" as const,
  quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
})

describe("PipelineDefinitionError, before anything is recorded", () => {
  it.live("two steps with the same name", () =>
    Effect.gen(function* () {
      const message = yield* refused((dir) =>
        Pipeline.make({ name: "dup", source }).pipe(Pipeline.transform(named(String("clean"))), Pipeline.transform(named(String("clean"))), Pipeline.toSinks(sinks(dir))))
      expect(message).toBe('Pipeline "dup": the transform and the transform are both named "clean"; node names must be unique')
    }))

  it.live("a step named like a sink", () =>
    Effect.gen(function* () {
      const message = yield* refused((dir) => Pipeline.make({ name: "clash", source }).pipe(Pipeline.transform(named(String("out"))), Pipeline.toSinks(sinks(dir))))
      expect(message).toBe('Pipeline "clash": the transform and a sink are both named "out"; node names must be unique')
    }))

  it.live("a reserved name (quarantine)", () =>
    Effect.gen(function* () {
      const message = yield* refused((dir) => Pipeline.make({ name: "reserved", source }).pipe(Pipeline.transform(named(String("quarantine"))), Pipeline.toSinks(sinks(dir))))
      expect(message).toBe('Pipeline "reserved": the transform is named "quarantine", which is reserved (quarantine, source)')
    }))

  it.live("a gate route with no sink names the missing sink", () =>
    Effect.gen(function* () {
      const gate = Pipeline.makeGate("delay", ["late"], (r: Row) => Effect.succeed(r.n > 1 ? "late" as const : Pipeline.Continue))
      // The builder would not compile this (test/types/pipeline.ts); a pipeline assembled by hand, or from JavaScript, can.
      const message = yield* refused((dir) => {
        const { default: defaultSink, quarantine, sinks: named } = sinks(dir)
        return new Pipeline.Pipeline<never>("routes", source, [gate], named, defaultSink, quarantine)
      })
      expect(message).toBe('Pipeline "routes": the gate "delay" routes to "late", which is not a sink (sinks: out)')
    }))

  it.live("a configuration with no JSON form", () =>
    Effect.gen(function* () {
      const step = Pipeline.makeTransform("tuned", (r: Row) => Effect.succeed(r), { config: { threshold: Number.NaN } })
      const message = yield* refused((dir) => Pipeline.make({ name: "config", source }).pipe(Pipeline.transform(step), Pipeline.toSinks(sinks(dir))))
      expect(message).toBe('Pipeline "config": its configuration has no JSON form at config.steps[0].config.threshold: NaN has no JSON form (RFC 8785 §3.2.2.3)')
    }))
})
