/**
 * Compile-time tests for pipeline definitions: sinks must cover every gate route and accept the
 * rows that reach them.
 */
import { Effect, Schema } from "effect"
import { Pipeline, Sink, Source } from "../../src/index.js"

const source = Source.fromIterable({ records: [], schema: Schema.Struct({ n: Schema.Number }) })
const parity = Pipeline.makeGate("parity", ["odd"], (r: { n: number }) => Effect.succeed(r.n % 2 ? "odd" as const : Pipeline.Continue))
const quarantine = Sink.jsonLines({ path: "q.jsonl" })

export const complete = Pipeline.make({ name: "ok", source }).pipe(
  Pipeline.gate(parity),
  Pipeline.toSinks({ sinks: { odd: Sink.jsonLines({ path: "odd.jsonl" }), even: Sink.csv<{ n: number }>({ path: "e.csv" }) }, default: "even", quarantine })
)

export const missingRoute = Pipeline.make({ name: "no-odd-sink", source }).pipe(
  Pipeline.gate(parity),
  // @ts-expect-error the gate routes to "odd" but no sink is named "odd"
  Pipeline.toSinks({ sinks: { even: Sink.jsonLines({ path: "e.jsonl" }) }, default: "even", quarantine })
)

export const wrongRows = Pipeline.make({ name: "wrong-rows", source }).pipe(
  // @ts-expect-error the sink expects rows with a `name`, the pipeline produces { n: number }
  Pipeline.toSinks({ sinks: { out: Sink.csv<{ name: string }>({ path: "o.csv" }) }, default: "out", quarantine })
)

export const wrongStep = Pipeline.make({ name: "wrong-step", source }).pipe(
  // @ts-expect-error the transform expects strings, the source produces { n: number }
  Pipeline.transform(Pipeline.makeTransform("upper", (s: string) => Effect.succeed(s.toUpperCase())))
)

// Node names given as literals are checked at compile time (a name computed at run time is checked
// by Orchestrator.run: test/Pipeline.test.ts).
const clean = Pipeline.makeTransform("clean", (r: { n: number }) => Effect.succeed(r))

export const duplicateStep = Pipeline.make({ name: "dup", source }).pipe(
  Pipeline.transform(clean),
  // @ts-expect-error a second node named "clean"
  Pipeline.transform(clean)
)

export const reservedStep = Pipeline.make({ name: "reserved", source }).pipe(
  // @ts-expect-error "quarantine" is the quarantine sink's node
  Pipeline.transform(Pipeline.makeTransform("quarantine", (r: { n: number }) => Effect.succeed(r)))
)

export const sourceNamedStep = Pipeline.make({ name: "reserved-source", source }).pipe(
  // @ts-expect-error "source" is reserved for the source
  Pipeline.gate(Pipeline.makeGate("source", ["odd"], (r: { n: number }) => Effect.succeed(r.n % 2 ? "odd" as const : Pipeline.Continue)))
)

export const sinkNamedLikeStep = Pipeline.make({ name: "clash", source }).pipe(
  Pipeline.transform(clean),
  // @ts-expect-error a sink named "clean" like the transform
  Pipeline.toSinks({ sinks: { clean: Sink.jsonLines({ path: "c.jsonl" }) }, default: "clean", quarantine })
)

export const sinkNamedQuarantine = Pipeline.make({ name: "q", source }).pipe(
  // @ts-expect-error a sink may not be named "quarantine"
  Pipeline.toSinks({ sinks: { quarantine: Sink.jsonLines({ path: "x.jsonl" }) }, default: "quarantine", quarantine })
)

// Distinct names compile.
export const distinct = Pipeline.make({ name: "ok", source }).pipe(
  Pipeline.transform(clean),
  Pipeline.transform(Pipeline.makeTransform("enrich", (r: { n: number }) => Effect.succeed(r))),
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: "o.jsonl" }) }, default: "out", quarantine })
)

// An expansion changes the row type to its elements': the steps after it take those.
const split = Pipeline.makeExpand("split", (r: { n: number }) => Effect.succeed([{ digit: r.n % 10 }, { digit: 1 }]))
export const expanded = Pipeline.make({ name: "expand", source }).pipe(
  Pipeline.expand(split),
  Pipeline.transform(Pipeline.makeTransform("use", (d: { digit: number }) => Effect.succeed(d))),
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ digit: number }>({ path: "d.jsonl" }) }, default: "out", quarantine })
)
export const expandedWrongType = Pipeline.make({ name: "expand-wrong", source }).pipe(
  Pipeline.expand(split),
  // @ts-expect-error the step after the expansion receives { digit }, not { n }
  Pipeline.transform(Pipeline.makeTransform("use", (r: { n: number }) => Effect.succeed(r)))
)
export const expandedDuplicate = Pipeline.make({ name: "expand-dup", source }).pipe(
  Pipeline.transform(clean),
  // @ts-expect-error an expansion's name must be new too
  Pipeline.expand(Pipeline.makeExpand("clean", (r: { n: number }) => Effect.succeed([r])))
)

// A fork's routes must be sinks too.
export const forkedToNothing = Pipeline.make({ name: "fork", source }).pipe(
  Pipeline.fork(Pipeline.makeFork("tee", ["audit"], (_: { n: number }) => Effect.succeed(["audit" as const, Pipeline.Continue]))),
  // @ts-expect-error the fork routes to "audit", which is not a sink here
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: "o.jsonl" }) }, default: "out", quarantine })
)

// An aggregation's output type is what the steps after it take; its batch is of the rows before it.
const hourly = Pipeline.makeAggregate("hourly", { trigger: { count: 10, timeout: "1 minute" } }, (batch: ReadonlyArray<{ n: number }>) =>
  Effect.succeed({ count: batch.length }))
export const aggregated = Pipeline.make({ name: "agg", source }).pipe(
  Pipeline.aggregate(hourly),
  Pipeline.transform(Pipeline.makeTransform("use", (s: { count: number }) => Effect.succeed(s))),
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ count: number }>({ path: "h.jsonl" }) }, default: "out", quarantine })
)
export const aggregatedWrongInput = Pipeline.make({ name: "agg-wrong", source }).pipe(
  // @ts-expect-error the aggregation's batch is of { n }, not { text }
  Pipeline.aggregate(Pipeline.makeAggregate("count", { trigger: { count: 2 } }, (batch: ReadonlyArray<{ text: string }>) => Effect.succeed(batch.length)))
)
export const aggregatedWrongSink = Pipeline.make({ name: "agg-sink", source }).pipe(
  Pipeline.aggregate(hourly),
  // @ts-expect-error the sink takes { n }, but the aggregation makes { count }
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ n: number }>({ path: "h.jsonl" }) }, default: "out", quarantine })
)
// A passthrough aggregation's trigger condition sees the batch's rows.
export const batched = Pipeline.make({ name: "batched", source }).pipe(
  Pipeline.aggregate(Pipeline.makeBatched("label", { trigger: { condition: (rows) => rows.some((r) => r.n > 9) } }, (rows: ReadonlyArray<{ n: number }>) =>
    Effect.succeed(rows.map((r) => ({ ...r, big: r.n > 9 }))))),
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ n: number; big: boolean }>({ path: "b.jsonl" }) }, default: "out", quarantine })
)
export const aggregatedDuplicate = Pipeline.make({ name: "agg-dup", source }).pipe(
  Pipeline.transform(clean),
  // @ts-expect-error an aggregation's name must be new too
  Pipeline.aggregate(Pipeline.makeAggregate("clean", { trigger: {} }, (rows: ReadonlyArray<{ n: number }>) => Effect.succeed(rows.length)))
)

// A fork-join's row is its merge's: the union of the branches' rows with `requireAll`, each
// branch's row under its name with `nested`, missing branches optional under other policies.
const fanned = () =>
  Pipeline.make({ name: "fj", source }).pipe(
    Pipeline.forkJoin({
      name: "fan",
      branches: {
        left: (b) => b.pipe(Pipeline.transform(Pipeline.makeTransform("l", (r: { readonly n: number }) => Effect.succeed({ ...r, l: "x" })))),
        right: (b) =>
          b.pipe(
            Pipeline.transform(Pipeline.makeTransform("r", (r: { readonly n: number }) => Effect.succeed({ ...r, r: 1 }))),
            Pipeline.gate(Pipeline.makeGate("is_odd", ["odd"], (r: { n: number; r: number }) => Effect.succeed(r.n % 2 === 1 ? "odd" as const : Pipeline.Continue)))
          )
      },
      coalesce: { name: "join", policy: Pipeline.requireAll, merge: "union" }
    })
  )
export const forkJoined = fanned().pipe(
  Pipeline.transform(Pipeline.makeTransform("both", (r: { n: number; l: string; r: number }) => Effect.succeed({ n: r.n }))),
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ n: number }>({ path: "j.jsonl" }), odd: Sink.jsonLines<{ n: number }>({ path: "odd.jsonl" }) }, default: "out", quarantine })
)
export const forkJoinedMissingRoute = fanned().pipe(
  Pipeline.transform(Pipeline.makeTransform("both", (r: { n: number; l: string; r: number }) => Effect.succeed({ n: r.n }))),
  // @ts-expect-error a branch's gate routes to "odd", which must be a sink
  Pipeline.toSinks({ sinks: { out: Sink.jsonLines<{ n: number }>({ path: "j.jsonl" }) }, default: "out", quarantine })
)
export const forkJoinedQuorum = Pipeline.make({ name: "fj-quorum", source }).pipe(
  Pipeline.forkJoin({
    name: "fan",
    branches: { left: (b) => b.pipe(Pipeline.transform(Pipeline.makeTransform("l", (r: { readonly n: number }) => Effect.succeed({ l: r.n })))) },
    coalesce: { name: "join", policy: Pipeline.quorum(1), merge: "nested" }
  }),
  // @ts-expect-error with a quorum a branch may be missing: `left` is optional
  Pipeline.transform(Pipeline.makeTransform("use", (r: { readonly left: { l: number } }) => Effect.succeed(r)))
)
