/**
 * Model-based property test of the engine (issue 12, DESIGN.md invariant 10), through the real
 * Orchestrator and a real SQLite Landscape: random pipelines of transforms (some failing, some
 * asynchronous, some flaky with a retry), expansions (0–3 children), forks, gates, fork-joins and
 * aggregations, over random rows, with random concurrency and batch size. A fork-join has two
 * branches of 0–2 transforms and gates (a branch that fails or is routed away does not arrive),
 * joined by `requireAll` or `quorum(1)` with a `nested`, `union` or `select` merge; an aggregation
 * (at most one, on the main line) is count-triggered, passes its members through (`makeBatched`)
 * or makes one row of each batch (`makeAggregate`), and some of its batches fail.
 *
 * For each case, a plain model of the same steps says what each sink must hold (the quarantine
 * sink: at which node); the run must agree with it exactly, in order, or as a multiset when an
 * aggregation reorders the sinks. Every source row must be recorded once; the tokens must be the
 * model's, each with exactly one terminal outcome (none left buffered), as many `expanded`,
 * `forked`, `coalesced` and `consumed_in_batch` as the model says, children hanging off split
 * parents only; the batches must be the model's, none left open; the `TokenCompleted` events
 * must be the Landscape's outcomes; and `verify` must pass. The cases share one Landscape (each
 * a run of its own, every query taking its run only): a new database per case was half the time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Runtime, Schedule, Schema } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

interface V {
  readonly v: number
}
const V = Schema.Struct({ v: Schema.Number })

interface AddSpec {
  readonly kind: "add"
  readonly add: number
  readonly failMod: number
  readonly async: boolean
  readonly flaky: boolean
}
interface GateSpec {
  readonly kind: "gate"
  readonly mod: number
}
/** What a fork-join's branch may hold. */
type BranchSpec = AddSpec | GateSpec
interface AggregateSpec {
  readonly kind: "aggregate"
  readonly output: "passthrough" | "single"
  readonly count: number
  readonly failMod: number
  readonly async: boolean
}
type StepSpec =
  | AddSpec
  | GateSpec
  | { readonly kind: "expand"; readonly fanMod: number }
  | { readonly kind: "fork"; readonly mod: number }
  | {
    readonly kind: "join"
    readonly left: ReadonlyArray<BranchSpec>
    readonly right: ReadonlyArray<BranchSpec>
    readonly policy: "requireAll" | "quorum"
    readonly merge: "nested" | "union" | "selectLeft"
  }
  | AggregateSpec

const addSpec: fc.Arbitrary<AddSpec> = fc.record({
  kind: fc.constant("add" as const),
  add: fc.integer({ min: 1, max: 9 }),
  failMod: fc.integer({ min: 0, max: 5 }),
  async: fc.boolean(),
  flaky: fc.boolean()
})
const gateSpec: fc.Arbitrary<GateSpec> = fc.record({ kind: fc.constant("gate" as const), mod: fc.integer({ min: 2, max: 4 }) })
const branchSpec: fc.Arbitrary<ReadonlyArray<BranchSpec>> = fc.array(fc.oneof({ arbitrary: addSpec, weight: 3 }, { arbitrary: gateSpec, weight: 1 }), { maxLength: 2 })

const stepSpec: fc.Arbitrary<StepSpec> = fc.oneof(
  addSpec,
  fc.record({ kind: fc.constant("expand" as const), fanMod: fc.integer({ min: 1, max: 4 }) }),
  gateSpec,
  fc.record({ kind: fc.constant("fork" as const), mod: fc.integer({ min: 2, max: 4 }) }),
  fc.record({
    kind: fc.constant("join" as const),
    left: branchSpec,
    right: branchSpec,
    policy: fc.constantFrom("requireAll" as const, "quorum" as const),
    merge: fc.constantFrom("nested" as const, "union" as const, "selectLeft" as const)
  })
)

const aggregateSpec: fc.Arbitrary<AggregateSpec> = fc.record({
  kind: fc.constant("aggregate" as const),
  output: fc.constantFrom("passthrough" as const, "single" as const),
  count: fc.integer({ min: 1, max: 5 }),
  failMod: fc.integer({ min: 0, max: 5 }),
  async: fc.boolean()
})

/** 1–4 steps, and (half the time) one aggregation placed among them. */
const pipelineSpec: fc.Arbitrary<ReadonlyArray<StepSpec>> = fc.tuple(fc.array(stepSpec, { minLength: 1, maxLength: 4 }), fc.option(aggregateSpec, { freq: 2 }), fc.nat())
  .map(([steps, aggregate, at]) => {
    if (aggregate === null) return steps
    const k = at % (steps.length + 1)
    return [...steps.slice(0, k), aggregate, ...steps.slice(k)]
  })

const mod7 = (v: number) => ((v % 7) + 7) % 7
/** A failing `add` fails values whose remainder by 7 is `failMod - 1` (never when `failMod` is 0). */
const fails = (s: { readonly failMod: number }, v: number) => s.failMod > 0 && mod7(v) === s.failMod - 1
const fanout = (s: { readonly fanMod: number }, v: number) => ((v % s.fanMod) + s.fanMod) % s.fanMod
const gated = (s: { readonly mod: number }, v: number) => ((v % s.mod) + s.mod) % s.mod === 0
const sum = (vs: ReadonlyArray<number>) => vs.reduce((a, b) => a + b, 0)
/** An aggregation's batch fails as an `add` does, on the sum of its members. */
const batchFails = (s: AggregateSpec, batch: ReadonlyArray<number>) => fails(s, sum(batch))
/** A flushed batch's rows: its sum (`single`), or each member plus 100 × its place in the batch (`passthrough`). */
const flushed = (s: AggregateSpec, batch: ReadonlyArray<number>) => (s.output === "single" ? [sum(batch)] : batch.map((v, k) => v + 100 * k))
/** A step's node name: its kind and place, after its fork-join's and branch's (`join2_left_add0`) for a branch's. */
const nameOf = (prefix: string, s: StepSpec, i: number) => `${prefix}${s.kind}${i}`
const branchPrefix = (i: number, side: "left" | "right") => `join${i}_${side}_`
const coalesceName = (i: number) => `coalesce${i}`

/** The merge of the branches that arrived, as the step after the coalesce makes it a `V`. */
const merged = (merge: "nested" | "union" | "selectLeft", arrived: { readonly left?: number; readonly right?: number }) =>
  merge === "nested" ? (arrived.left ?? 0) + (arrived.right ?? 0) : merge === "union" ? (arrived.right ?? arrived.left!) : arrived.left!

interface Expected {
  readonly a: Array<number>
  readonly b: Array<number>
  /** The node each quarantined token was quarantined at. */
  readonly quarantined: Array<string>
  tokens: number
  expanded: number
  forked: number
  coalesced: number
  consumed: number
  flushedBatches: number
  failedBatches: number
}

/**
 * What the sinks must hold: the model runs each row's tokens through the steps, in order (a token's
 * children depth first, as the engine orders a row's tokens); the tokens reaching the aggregation
 * wait in source order and, once every row has been read, are cut into batches of `count` (the
 * last one shorter), each taken on from the step after it.
 */
const model = (steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>): Expected => {
  const out: Expected = { a: [], b: [], quarantined: [], tokens: 0, expanded: 0, forked: 0, coalesced: 0, consumed: 0, flushedBatches: 0, failedBatches: 0 }
  const buffered: Array<number> = []
  /**
   * A new token of value `v` through `line` (its steps' names after `prefix`) from `from`; `arrive`
   * takes it at the line's end (the default sink, or a branch's coalesce).
   */
  const run = (line: ReadonlyArray<StepSpec>, prefix: string, v: number, from: number, arrive: (v: number) => void): void => {
    out.tokens += 1
    for (let i = from; i < line.length; i++) {
      const s = line[i]!
      if (s.kind === "add") {
        if (fails(s, v)) return void out.quarantined.push(nameOf(prefix, s, i))
        v += s.add
      } else if (s.kind === "expand") {
        out.expanded += 1
        for (let k = 0; k < fanout(s, v); k++) run(line, prefix, v * 10 + k, i + 1, arrive)
        return
      } else if (s.kind === "fork") {
        // A copy to "b" when gated, and one going on: a child token each.
        out.forked += 1
        if (gated(s, v)) {
          out.tokens += 1
          out.b.push(v)
        }
        return run(line, prefix, v, i + 1, arrive)
      } else if (s.kind === "join") {
        // A child token per branch; a failed branch is quarantined, a gated one routed to "b": neither arrives.
        out.forked += 1
        const arrived: { left?: number; right?: number } = {}
        run(s.left, branchPrefix(i, "left"), v, 0, (x) => void (arrived.left = x))
        run(s.right, branchPrefix(i, "right"), v, 0, (x) => void (arrived.right = x))
        const count = (arrived.left === undefined ? 0 : 1) + (arrived.right === undefined ? 0 : 1)
        const met = s.policy === "requireAll" ? count === 2 : count >= 1
        // A policy not met (or a selected branch missing) quarantines each arrival; else they end coalesced and their merge goes on.
        if (!met || (s.merge === "selectLeft" && arrived.left === undefined)) return void out.quarantined.push(...Array.from({ length: count }, () => coalesceName(i)))
        out.coalesced += count
        return run(line, prefix, merged(s.merge, arrived), i + 1, arrive)
      } else if (s.kind === "aggregate") {
        return void buffered.push(v)
      } else if (gated(s, v)) return void out.b.push(v)
    }
    arrive(v)
  }
  const toA = (v: number) => void out.a.push(v)
  for (const v of inputs) run(steps, "", v, 0, toA)
  const at = steps.findIndex((s) => s.kind === "aggregate")
  const aggregate = steps[at]
  if (aggregate?.kind === "aggregate") {
    for (let k = 0; k < buffered.length; k += aggregate.count) {
      const batch = buffered.slice(k, k + aggregate.count)
      if (batchFails(aggregate, batch)) {
        out.failedBatches += 1
        out.quarantined.push(...batch.map(() => nameOf("", aggregate, at)))
        continue
      }
      out.flushedBatches += 1
      out.consumed += batch.length
      for (const v of flushed(aggregate, batch)) run(steps, "", v, at + 1, toA)
    }
  }
  return out
}

const flakySchedule = Pipeline.retry({ schedule: Schedule.intersect(Schedule.spaced(Duration.millis(1)), Schedule.recurs(2)), retryable: () => true })

type Line = Pipeline.Builder<V, "b", never, string>

/** The pipeline of `steps`, its sinks in `dir`; flaky steps' first attempt at each value fails. */
const pipelineOf = (steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>, dir: string) => {
  const tries = new Map<string, number>()
  const add = (s: AddSpec, name: string) =>
    Pipeline.makeTransform(name, (r: V): Effect.Effect<V, Error> => {
      const key = `${name}:${r.v}`
      const n = (tries.get(key) ?? 0) + 1
      tries.set(key, n)
      if (s.flaky && n === 1) return Effect.fail(new Error("flaky"))
      if (fails(s, r.v)) return Effect.fail(new Error(`${r.v} fails`))
      const next = { v: r.v + s.add }
      return s.async ? Effect.as(Effect.yieldNow(), next) : Effect.succeed(next)
    }, s.flaky ? { retry: flakySchedule } : {})
  const gate = (s: GateSpec, name: string) => Pipeline.makeGate(name, ["b"], (r: V) => Effect.succeed(gated(s, r.v) ? "b" as const : Pipeline.Continue))
  /** A branch: its transforms and gates after the forked row. */
  const branch = (specs: ReadonlyArray<BranchSpec>, prefix: string) => (start: Pipeline.Builder<V, never, never, never>): Line =>
    specs.reduce<Line>((b, s, j) => s.kind === "add" ? b.pipe(Pipeline.transform(add(s, nameOf(prefix, s, j)))) : b.pipe(Pipeline.gate(gate(s, nameOf(prefix, s, j)))), start)
  /** The flush's rows, or its failure; asynchronous when `s.async`. */
  const flush = (s: AggregateSpec, batch: ReadonlyArray<V>): Effect.Effect<ReadonlyArray<V>, Error> => {
    const vs = batch.map((r) => r.v)
    if (batchFails(s, vs)) return Effect.fail(new Error(`batch ${vs.join(",")} fails`))
    const rows = flushed(s, vs).map((v) => ({ v }))
    return s.async ? Effect.as(Effect.yieldNow(), rows) : Effect.succeed(rows)
  }
  let builder: Line = Pipeline.make({ name: "prop", source: Source.fromIterable({ records: inputs.map((v) => ({ v })), schema: V }) })
  steps.forEach((s, i) => {
    const name = nameOf("", s, i)
    if (s.kind === "add") {
      builder = builder.pipe(Pipeline.transform(add(s, name)))
    } else if (s.kind === "expand") {
      builder = builder.pipe(Pipeline.expand(Pipeline.makeExpand(name, (r: V) => Effect.succeed(Array.from({ length: fanout(s, r.v) }, (_, k) => ({ v: r.v * 10 + k }))))))
    } else if (s.kind === "fork") {
      builder = builder.pipe(Pipeline.fork(Pipeline.makeFork(name, ["b"], (r: V) => Effect.succeed(gated(s, r.v) ? ["b" as const, Pipeline.Continue] : [Pipeline.Continue]))))
    } else if (s.kind === "join") {
      const branches = { left: branch(s.left, branchPrefix(i, "left")), right: branch(s.right, branchPrefix(i, "right")) }
      const policy = s.policy === "requireAll" ? Pipeline.requireAll : Pipeline.quorum(1)
      const coalesce = coalesceName(i)
      // The merged row's type allows a missing branch (the policy is not known to be `requireAll`): the step after makes it a `V`.
      if (s.merge === "nested") {
        builder = builder.pipe(
          Pipeline.forkJoin({ name, branches, coalesce: { name: coalesce, policy, merge: "nested" } }),
          Pipeline.transform(Pipeline.makeTransform(`combine${i}`, (r: { readonly left?: V; readonly right?: V }) => Effect.succeed({ v: (r.left?.v ?? 0) + (r.right?.v ?? 0) })))
        )
      } else if (s.merge === "union") {
        builder = builder.pipe(
          Pipeline.forkJoin({ name, branches, coalesce: { name: coalesce, policy, merge: "union" } }),
          Pipeline.transform(Pipeline.makeTransform(`whole${i}`, (r: { readonly v?: number }) => Effect.succeed({ v: r.v ?? Number.NaN })))
        )
      } else {
        builder = builder.pipe(Pipeline.forkJoin({ name, branches, coalesce: { name: coalesce, policy, merge: { select: "left" } } }))
      }
    } else if (s.kind === "aggregate") {
      const trigger = { count: s.count }
      builder = builder.pipe(Pipeline.aggregate(s.output === "single"
        ? Pipeline.makeAggregate(name, { trigger }, (batch: ReadonlyArray<V>) => Effect.map(flush(s, batch), (rows) => rows[0]!))
        : Pipeline.makeBatched(name, { trigger }, (batch: ReadonlyArray<V>) => flush(s, batch))))
    } else {
      builder = builder.pipe(Pipeline.gate(gate(s, name)))
    }
  })
  return builder.pipe(Pipeline.toSinks({
    sinks: { a: Sink.jsonLines<V>({ path: join(dir, "a.jsonl") }), b: Sink.jsonLines<V>({ path: join(dir, "b.jsonl") }) },
    default: "a",
    quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
  }))
}

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "")
const values = (path: string) => lines(path).map((l) => (JSON.parse(l) as V).v)
/** The node each row of the quarantine sink was quarantined at. */
const nodes = (path: string) => lines(path).map((l) => (JSON.parse(l) as Pipeline.QuarantinedRow).node)

/** The outcomes a `TokenCompleted` reports (a token coalesced or consumed in a batch has none). */
const reported = ["routed", "quarantined", "expanded", "forked"]

/** Runs the pipeline of `steps` over `inputs`, recording into the Landscape of `db` (shared by the cases: each query takes its run only). */
const check = (db: string, steps: ReadonlyArray<StepSpec>, inputs: ReadonlyArray<number>, concurrency: number, batchSize: number) => {
  const dir = tempDir()
  return Effect.gen(function* () {
    const expected = model(steps, inputs)
    const summary = yield* Orchestrator.run(pipelineOf(steps, inputs, dir), { concurrency, batchSize })
    // Sinks get rows in source order, a row's tokens in order; but a batch's flush is committed after the
    // source rows that filled it, so with an aggregation the order is not the model's: compare multisets
    // (both sides sorted the same way).
    const same = steps.some((s) => s.kind === "aggregate") ? <A>(xs: ReadonlyArray<A>) => [...xs].sort() : <A>(xs: ReadonlyArray<A>) => xs
    expect(same(values(join(dir, "a.jsonl")))).toEqual(same(expected.a))
    expect(same(values(join(dir, "b.jsonl")))).toEqual(same(expected.b))
    expect(same(nodes(join(dir, "q.jsonl")))).toEqual(same(expected.quarantined))
    expect(summary).toMatchObject({ rowsRead: inputs.length, quarantined: expected.quarantined.length, rowsPerSink: { a: expected.a.length, b: expected.b.length } })

    const run = summary.runId
    const [counts] = yield* querySqlite<{ rows: number; indexes: number; orphans: number; flushed: number; failed: number; open: number }>(db, `
      SELECT (SELECT count(*) FROM rows WHERE run_id = '${run}') AS rows, (SELECT count(DISTINCT row_index) FROM rows WHERE run_id = '${run}') AS indexes,
             (SELECT count(*) FROM token_parents p JOIN tokens t ON t.token_id = p.parent_token_id
               WHERE p.run_id = '${run}' AND t.outcome NOT IN ('expanded', 'forked', 'coalesced', 'consumed_in_batch')) AS orphans,
             (SELECT count(*) FROM batches WHERE run_id = '${run}' AND status = 'flushed') AS flushed,
             (SELECT count(*) FROM batches WHERE run_id = '${run}' AND status = 'failed') AS failed,
             (SELECT count(*) FROM batches WHERE run_id = '${run}' AND status = 'open') AS open`)
    // Each row recorded once; children hang off split parents only; every batch flushed (or failed) as the model's.
    expect(counts).toEqual({ rows: inputs.length, indexes: inputs.length, orphans: 0, flushed: expected.flushedBatches, failed: expected.failedBatches, open: 0 })
    // The tokens are the model's, each with one outcome (none left without one: buffered in a batch, or lost).
    const outcomes = yield* querySqlite<{ outcome: string | null; n: number }>(db, `SELECT outcome, count(*) AS n FROM tokens WHERE run_id = '${run}' GROUP BY outcome`)
    const want: Record<string, number> = {
      routed: expected.a.length + expected.b.length,
      quarantined: expected.quarantined.length,
      expanded: expected.expanded,
      forked: expected.forked,
      coalesced: expected.coalesced,
      consumed_in_batch: expected.consumed
    }
    expect(Object.fromEntries(outcomes.map((o) => [o.outcome ?? "none", o.n]))).toEqual(Object.fromEntries(Object.entries(want).filter(([, n]) => n > 0)))
    // The model's own books balance: it made as many tokens as it ended.
    expect(Object.values(want).reduce((x, y) => x + y, 0)).toBe(expected.tokens)

    const exporter = yield* TestExporter.TestExporter
    expect((yield* exporter.eventsOf("RowCreated")).length).toBe(inputs.length)
    // One TokenCompleted per token the Landscape records with an outcome it reports, with that outcome.
    const completed = (yield* exporter.eventsOf("TokenCompleted")).map((e) => `${e.tokenId} ${e.outcome}`).sort()
    const tokens = yield* querySqlite<{ token_id: string; outcome: string }>(db, `SELECT token_id, outcome FROM tokens WHERE run_id = '${run}' AND outcome IN (${reported.map((o) => `'${o}'`).join(", ")})`)
    expect(completed).toEqual(tokens.map((t) => `${t.token_id} ${t.outcome}`).sort())
    expect(yield* Landscape.verify(run)).toMatchObject({ ok: true, problems: [] })
  }).pipe(Effect.provide(TestExporter.layer()))
}

describe("the engine against a model (fast-check)", () => {
  it.live("random pipelines and rows: the sinks hold what the model says, each row once, one outcome per token, events and verify agree", () =>
    Effect.gen(function* () {
      const db = join(tempDir(), "landscape.db")
      const runtime = yield* Layer.toRuntime(LandscapeSqlite.layer({ filename: db }))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            pipelineSpec,
            fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 25 }),
            fc.integer({ min: 1, max: 4 }),
            fc.integer({ min: 1, max: 8 }),
            (steps, inputs, concurrency, batchSize) => Runtime.runPromise(runtime)(check(db, steps, inputs, concurrency, batchSize))
          ),
          { numRuns: 100 }
        )
      )
    }).pipe(Effect.scoped), 120_000)
})
