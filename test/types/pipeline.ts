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
