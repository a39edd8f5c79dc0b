/**
 * Model-based property test of the engine (issue 12, DESIGN.md invariant 10), through the real
 * Orchestrator and a real SQLite Landscape: random pipelines of transforms (some failing, some
 * asynchronous, some flaky with a retry), expansions (0–3 children), forks and gates, over random rows,
 * with random concurrency and batch size. For each, a plain model of the same steps says what each
 * sink must hold; the run must agree with it exactly, every source row must be recorded once,
 * every token must have exactly one terminal outcome (its children linked to it), the events must
 * agree with the Landscape, and `verify` must pass.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Schedule, Schema } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

interface V {
  readonly v: number
}
const V = Schema.Struct({ v: Schema.Number })

type StepSpec =
  | { readonly kind: "add"; readonly add: number; readonly failMod: number; readonly async: boolean; readonly flaky: boolean }
  | { readonly kind: "expand"; readonly fanMod: number }
  | { readonly kind: "gate"; readonly mod: number }
  | { readonly kind: "fork"; readonly mod: number }

const stepSpec: fc.Arbitrary<StepSpec> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), add: fc.integer({ min: 1, max: 9 }), failMod: fc.integer({ min: 0, max: 5 }), async: fc.boolean(), flaky: fc.boolean() }),
  fc.record({ kind: fc.constant("expand" as const), fanMod: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("gate" as const), mod: fc.integer({ min: 2, max: 4 }) }),
  fc.record({ kind: fc.constant("fork" as const), mod: fc.integer({ min: 2, max: 4 }) })
)

/** A failing `add` fails values whose remainder by 7 is `failMod - 1` (never when `failMod` is 0). */
const fails = (s: { readonly failMod: number }, v: number) => s.failMod > 0 && ((v % 7) + 7) % 7 === s.failMod - 1
const fanout = (s: { readonly fanMod: number }, v: number) => ((v % s.fanMod) + s.fanMod) % s.fanMod
const gated = (s: { readonly mod: number }, v: number) => ((v % s.mod) + s.mod) % s.mod === 0

/** What the sinks must hold: the model runs each row's tokens through the steps, in order. */
const model = (steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>) => {
  const out = { a: [] as Array<number>, b: [] as Array<number>, quarantined: 0, tokens: 0 }
  const run = (v: number, from: number): void => {
    out.tokens += 1
    for (let i = from; i < steps.length; i++) {
      const s = steps[i]!
      if (s.kind === "add") {
        if (fails(s, v)) return void (out.quarantined += 1)
        v += s.add
      } else if (s.kind === "expand") {
        for (let k = 0; k < fanout(s, v); k++) run(v * 10 + k, i + 1)
        return
      } else if (s.kind === "fork") {
        // A copy to "b" and one going on when gated, else only the one going on: a child token each.
        out.tokens += 1
        if (gated(s, v)) {
          out.tokens += 1
          out.b.push(v)
        }
      } else if (gated(s, v)) return void out.b.push(v)
    }
    out.a.push(v)
  }
  for (const v of inputs) run(v, 0)
  return out
}

const flakySchedule = Pipeline.retry({ schedule: Schedule.intersect(Schedule.spaced(Duration.millis(1)), Schedule.recurs(2)), retryable: () => true })

/** The pipeline of `steps`, its sinks in `dir`; `tries` counts flaky steps' attempts (the first attempt at each value fails). */
const pipelineOf = (steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>, dir: string) => {
  const tries = new Map<string, number>()
  let builder: Pipeline.Builder<V, "b", never, string> = Pipeline.make({ name: "prop", source: Source.fromIterable({ records: inputs.map((v) => ({ v })), schema: V }) })
  steps.forEach((s, i) => {
    const name = `${s.kind}${i}`
    if (s.kind === "add") {
      builder = builder.pipe(Pipeline.transform(Pipeline.makeTransform(name, (r: V): Effect.Effect<V, Error> => {
        const key = `${name}:${r.v}`
        const n = (tries.get(key) ?? 0) + 1
        tries.set(key, n)
        if (s.flaky && n === 1) return Effect.fail(new Error("flaky"))
        if (fails(s, r.v)) return Effect.fail(new Error(`${r.v} fails`))
        const next = { v: r.v + s.add }
        return s.async ? Effect.as(Effect.yieldNow(), next) : Effect.succeed(next)
      }, s.flaky ? { retry: flakySchedule } : {})))
    } else if (s.kind === "expand") {
      builder = builder.pipe(Pipeline.expand(Pipeline.makeExpand(name, (r: V) => Effect.succeed(Array.from({ length: fanout(s, r.v) }, (_, k) => ({ v: r.v * 10 + k }))))))
    } else if (s.kind === "fork") {
      builder = builder.pipe(Pipeline.fork(Pipeline.makeFork(name, ["b"], (r: V) => Effect.succeed(gated(s, r.v) ? ["b" as const, Pipeline.Continue] : [Pipeline.Continue]))))
    } else {
      builder = builder.pipe(Pipeline.gate(Pipeline.makeGate(name, ["b"], (r: V) => Effect.succeed(gated(s, r.v) ? "b" as const : Pipeline.Continue))))
    }
  })
  return builder.pipe(Pipeline.toSinks({
    sinks: { a: Sink.jsonLines<V>({ path: join(dir, "a.jsonl") }), b: Sink.jsonLines<V>({ path: join(dir, "b.jsonl") }) },
    default: "a",
    quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
  }))
}

const values = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as V).v)

const check = (steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>, concurrency: number, batchSize: number) => {
  const dir = tempDir()
  const db = join(dir, "landscape.db")
  return Effect.gen(function* () {
    const expected = model(steps, inputs)
    const summary = yield* Orchestrator.run(pipelineOf(steps, inputs, dir), { concurrency, batchSize })
    expect(values(join(dir, "a.jsonl"))).toEqual(expected.a)
    expect(values(join(dir, "b.jsonl"))).toEqual(expected.b)
    expect(summary).toMatchObject({ rowsRead: inputs.length, quarantined: expected.quarantined, rowsPerSink: { a: expected.a.length, b: expected.b.length } })

    const [counts] = yield* querySqlite<{ rows: number; indexes: number; tokens: number; open: number; leaves: number; orphans: number }>(db, `
      SELECT (SELECT count(*) FROM rows) AS rows, (SELECT count(DISTINCT row_index) FROM rows) AS indexes,
             (SELECT count(*) FROM tokens) AS tokens, (SELECT count(*) FROM tokens WHERE outcome IS NULL) AS open,
             (SELECT count(*) FROM tokens WHERE outcome IN ('routed', 'quarantined')) AS leaves,
             (SELECT count(*) FROM token_parents p JOIN tokens t ON t.token_id = p.parent_token_id WHERE t.outcome NOT IN ('expanded', 'forked')) AS orphans`)
    // Each row recorded once; every token one outcome; the tokens are the model's; children hang off expanded parents only.
    expect(counts).toMatchObject({ rows: inputs.length, indexes: inputs.length, tokens: expected.tokens, open: 0, orphans: 0 })
    expect(counts!.leaves).toBe(expected.a.length + expected.b.length + expected.quarantined)
    const exporter = yield* TestExporter.TestExporter
    expect((yield* exporter.eventsOf("RowCreated")).length).toBe(inputs.length)
    expect((yield* exporter.eventsOf("TokenCompleted")).length).toBe(expected.tokens)
    expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
  }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
}

describe("the engine against a model (fast-check)", () => {
  it.live("random pipelines and rows: the sinks hold what the model says, each row once, one outcome per token, events and verify agree", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(stepSpec, { minLength: 1, maxLength: 4 }),
          fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 25 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 8 }),
          (steps, inputs, concurrency, batchSize) => Effect.runPromise(check(steps, inputs, concurrency, batchSize))
        ),
        { numRuns: 40 }
      )
    ), 120_000)
})
