/**
 * Fork and coalesce through the real Orchestrator and a real SQLite Landscape (issue 12): a row's
 * token ends `forked`, each branch runs on a child token through its own steps, the coalesce makes
 * one token of the branches that arrived (their child; they end `coalesced`) by its policy and
 * merge, and a policy that is not met quarantines the arrivals with its reason. The token tree and
 * hashes are checked by `verify`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Schema } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { canonicalJson, sha256 } from "../src/internal/hashing.js"
import { querySqlite, tempDir } from "./helpers.js"

const Flight = Schema.Struct({ id: Schema.Number, origin: Schema.String, delay: Schema.Number })
type Flight = typeof Flight.Type

const flights: ReadonlyArray<Flight> = [
  { id: 0, origin: "JFK", delay: 5 },
  { id: 1, origin: "XXX", delay: 10 }, // unknown airport: its airport branch is routed to "unknown"
  { id: 2, origin: "LAX", delay: -999 }, // the weather branch fails
  { id: 3, origin: "SFO", delay: 30 }
]
const airports: Record<string, string> = { JFK: "New York", LAX: "Los Angeles", SFO: "San Francisco" }

const addWeather = Pipeline.makeTransform("weather_lookup", (f: Flight) =>
  f.delay < -100 ? Effect.fail(new Error(`no weather for flight ${f.id}`)) : f.id % 2 === 1 ? Effect.as(Effect.yieldNow(), { ...f, windKt: f.delay * 2 }) : Effect.succeed({ ...f, windKt: f.delay * 2 }))
const addAirport = Pipeline.makeTransform("airport_lookup", (f: Flight) => Effect.succeed({ ...f, city: airports[f.origin] ?? "" }))
const knownAirport = Pipeline.makeGate("known", ["unknown"], (f: Flight & { city: string }) => Effect.succeed(f.city === "" ? "unknown" as const : Pipeline.Continue))

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

const enrich = (dir: string) =>
  Pipeline.make({ name: "enrich", source: Source.fromIterable({ records: flights, schema: Flight, name: "flights" }) }).pipe(
    Pipeline.forkJoin({
      name: "fan_out",
      branches: {
        weather: (b) => b.pipe(Pipeline.transform(addWeather)),
        airport: (b) => b.pipe(Pipeline.transform(addAirport), Pipeline.gate(knownAirport))
      },
      coalesce: { name: "joined", policy: Pipeline.requireAll, merge: "union" }
    }),
    Pipeline.transform(Pipeline.makeTransform("label", (f: Flight & { windKt: number; city: string }) => Effect.succeed({ ...f, label: `${f.city}: ${f.windKt} kt` }))),
    Pipeline.toSinks({
      sinks: {
        enriched: Sink.jsonLines<Flight & { label: string }>({ path: join(dir, "enriched.jsonl") }),
        unknown: Sink.jsonLines<Flight>({ path: join(dir, "unknown.jsonl") })
      },
      default: "enriched",
      quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
    })
  )

describe("Pipeline.forkJoin", () => {
  it.live("forks a row into branches and joins those that arrive into one token; a policy not met quarantines the arrivals; verify checks the tree", () => {
    const dir = tempDir()
    const db = join(dir, "landscape.db")
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(enrich(dir), { batchSize: 2 })
      expect(summary).toMatchObject({ rowsRead: 4, rowsPerSink: { enriched: 2, unknown: 1 }, quarantined: 3 })
      expect(lines(join(dir, "enriched.jsonl"))).toEqual([
        { id: 0, origin: "JFK", delay: 5, windKt: 10, city: "New York", label: "New York: 10 kt" },
        { id: 3, origin: "SFO", delay: 30, windKt: 60, city: "San Francisco", label: "San Francisco: 60 kt" }
      ])
      expect(lines(join(dir, "unknown.jsonl")).map((f) => f.id)).toEqual([1])
      expect(lines(join(dir, "q.jsonl")).map((q) => [q.rowIndex, q.node, q.reason])).toEqual([
        [1, "joined", "the coalesce \"joined\" requires every branch; \"airport\" did not arrive"],
        [2, "weather_lookup", "Error: no weather for flight 2"],
        [2, "joined", "the coalesce \"joined\" requires every branch; \"weather\" did not arrive"]
      ])
      const tokens = yield* querySqlite<{ row_index: number; outcome: string; node: string; parents: number }>(db, `
        SELECT r.row_index, t.outcome, n.name AS node, (SELECT count(*) FROM token_parents p WHERE p.token_id = t.token_id) AS parents
        FROM tokens t JOIN rows r ON r.row_id = t.row_id JOIN nodes n ON n.node_id = t.sink_node_id ORDER BY r.row_index, t.chain_seq, t.chain_ord`)
      expect(tokens.filter((t) => t.row_index === 0).map((t) => [t.outcome, t.node, t.parents])).toEqual([
        ["forked", "fan_out", 0], ["coalesced", "joined", 1], ["coalesced", "joined", 1], ["routed", "enriched", 2]
      ])
      expect(tokens.filter((t) => t.row_index === 1).map((t) => [t.outcome, t.node])).toEqual([["forked", "fan_out"], ["quarantined", "quarantine"], ["routed", "unknown"]])

      // The coalesce's state: input the hash of { branch: hash }, output the merged row's; its event says the same.
      const exporter = yield* TestExporter.TestExporter
      const [joined] = yield* querySqlite<{ node_id: string; kind: string }>(db, "SELECT node_id, kind FROM nodes WHERE name = 'joined'")
      // The fork is a gate (it routes the row), the join a node of its own kind.
      expect(joined!.kind).toBe("coalesce")
      expect(yield* querySqlite(db, "SELECT kind FROM nodes WHERE name = 'fan_out'")).toEqual([{ kind: "gate" }])
      const joins = (yield* exporter.eventsOf("TransformCompleted")).filter((e) => e.nodeId === joined!.node_id)
      const weather0 = sha256(canonicalJson({ ...flights[0], windKt: 10 }))
      const airport0 = sha256(canonicalJson({ ...flights[0], city: "New York" }))
      expect(joins[0]).toMatchObject({
        status: "completed",
        inputHash: sha256(canonicalJson({ airport: airport0, weather: weather0 })),
        outputHash: sha256(canonicalJson({ ...flights[0], windKt: 10, city: "New York" }))
      })
      const routes = (yield* exporter.eventsOf("GateEvaluated")).filter((e) => e.destination === "weather" || e.destination === "airport")
      expect(routes).toHaveLength(8)

      const trace = yield* Landscape.trace({ runId: summary.runId, rowId: joins[0]!.rowId })
      expect(trace._tag === "Some" && trace.value.tokens.map((t) => [t.parents.length, t.path.map((p) => p.node).join(" → "), t.outcome.outcome])).toEqual([
        [0, "fan_out", "forked"], [1, "weather_lookup", "coalesced"], [1, "airport_lookup → known", "coalesced"], [2, "joined → label", "routed"]
      ])
      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
      // A merged token moved under a token that was not joined is named.
      const [merged] = yield* querySqlite<{ token_id: string; parent: string }>(db, `
        SELECT p.token_id, p.parent_token_id AS parent FROM token_parents p JOIN tokens t ON t.token_id = p.token_id WHERE t.outcome = 'routed' AND p.ordinal = 1 LIMIT 1`)
      const [forkedRoot] = yield* querySqlite<{ token_id: string }>(db, "SELECT token_id FROM tokens WHERE outcome = 'quarantined' LIMIT 1")
      yield* querySqlite(db, `UPDATE token_parents SET parent_token_id = '${forkedRoot!.token_id}' WHERE token_id = '${merged!.token_id}' AND parent_token_id = '${merged!.parent}'`)
      const stray = yield* Landscape.verify(summary.runId)
      expect(stray.problems.filter((p) => p.check === "outcome").map((p) => p.message)).toEqual([expect.stringMatching(/not expanded, forked, coalesced or consumed in a batch$/)])
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))))
  })

  /** Runs a two-branch fork-join of `flights` with `policy` and `merge`; "slow" sleeps 0.6 s on odd ids, "fast" fails on id 2. */
  const joinWith = (policy: Pipeline.CoalescePolicy, merge: Pipeline.Merge<"fast" | "slow">) => {
    const dir = tempDir()
    const pipeline = Pipeline.make({ name: "policies", source: Source.fromIterable({ records: flights, schema: Flight }) }).pipe(
      Pipeline.forkJoin({
        name: "fan_out",
        branches: {
          fast: (b) => b.pipe(Pipeline.transform(Pipeline.makeTransform("quick", (f: Flight) => (f.id === 2 ? Effect.fail(new Error("quick failed")) : Effect.succeed({ quick: f.id }))))),
          slow: (b) => b.pipe(Pipeline.transform(Pipeline.makeTransform("slowly", (f: Flight) => Effect.as(Effect.sleep(f.id % 2 === 1 ? "600 millis" : "10 millis"), { slow: f.id }))))
        },
        coalesce: { name: "joined", policy, merge }
      }),
      Pipeline.toSinks({ sinks: { out: Sink.jsonLines<unknown>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
    )
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(pipeline, { concurrency: 8 })
      expect(yield* Landscape.verify(summary.runId)).toMatchObject({ ok: true, problems: [] })
      return { out: lines(join(dir, "out.jsonl")), quarantined: lines(join(dir, "q.jsonl")).map((q) => [q.rowIndex, q.reason]) }
    }).pipe(Effect.provide(Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))))
  }

  it.live("policies and merges: quorum with nested, first, select, best effort with a time-out that interrupts a slow branch", () =>
    Effect.gen(function* () {
      const quorum = yield* joinWith(Pipeline.quorum(1), "nested")
      expect(quorum.out).toEqual([
        { fast: { quick: 0 }, slow: { slow: 0 } }, { fast: { quick: 1 }, slow: { slow: 1 } }, { slow: { slow: 2 } }, { fast: { quick: 3 }, slow: { slow: 3 } }
      ])
      expect(quorum.quarantined).toEqual([[2, "Error: quick failed"]])
      const first = yield* joinWith(Pipeline.first, "union")
      expect(first.out).toEqual([{ quick: 0 }, { quick: 1 }, { slow: 2 }, { quick: 3 }])
      const selected = yield* joinWith(Pipeline.requireAll, { select: "slow" })
      expect(selected.out).toEqual([{ slow: 0 }, { slow: 1 }, { slow: 3 }])
      expect(selected.quarantined).toEqual([[2, "Error: quick failed"], [2, "the coalesce \"joined\" requires every branch; \"fast\" did not arrive"]])
      const bestEffort = yield* joinWith(Pipeline.bestEffort("200 millis"), "union")
      expect(bestEffort.out).toEqual([{ quick: 0, slow: 0 }, { quick: 1 }, { slow: 2 }, { quick: 3 }])
      expect(bestEffort.quarantined).toEqual([
        [1, "the coalesce \"joined\" waited 200ms for branch \"slow\""], [2, "Error: quick failed"], [3, "the coalesce \"joined\" waited 200ms for branch \"slow\""]
      ])
    }))

  it.live("refuses, before recording anything, a branch holding an aggregation and a quorum larger than the branches", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const source = Source.fromIterable({ records: flights, schema: Flight })
      const sinks = { sinks: { out: Sink.jsonLines<unknown>({ path: join(dir, "out.jsonl") }) }, default: "out" as const, quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) }
      const nested = Pipeline.make({ name: "nested", source }).pipe(
        Pipeline.forkJoin({
          name: "fan_out",
          branches: { counted: (b) => b.pipe(Pipeline.aggregate(Pipeline.makeAggregate("count", { trigger: { count: 2 } }, (rows: ReadonlyArray<Flight>) => Effect.succeed({ n: rows.length })))) },
          coalesce: { name: "joined", policy: Pipeline.requireAll, merge: "nested" }
        }),
        Pipeline.toSinks(sinks)
      )
      const tooMany = Pipeline.make({ name: "quorum", source }).pipe(
        Pipeline.forkJoin({ name: "fan_out", branches: { a: (b) => b, b: (b) => b }, coalesce: { name: "joined", policy: Pipeline.quorum(3), merge: "nested" } }),
        Pipeline.toSinks(sinks)
      )
      const layer = Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }))
      const messages = yield* Effect.forEach([nested, tooMany], (p) => Effect.map(Effect.either(Orchestrator.run(p)), (e) => (Either.isLeft(e) ? e.left.message : "ran"))).pipe(
        Effect.provide(layer)
      )
      expect(messages).toEqual([
        "Pipeline \"nested\": the fork-join \"fan_out\": branch \"counted\" holds \"count\", a aggregate; a branch holds transforms and gates",
        "Pipeline \"quorum\": the fork-join \"fan_out\" has quorum 3; it must be an integer from 1 to its 2 branches"
      ])
      expect(yield* querySqlite(join(dir, "landscape.db"), "SELECT run_id FROM runs")).toEqual([])
    }))
})
