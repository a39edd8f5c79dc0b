/**
 * SqlSink through the production path: the real Orchestrator, a SQLite Landscape file, and the
 * sink's own target database in a separate SQLite file (its SqlClient is not the Landscape's).
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Schema } from "effect"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, SqlSink, type Telemetry, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const Order = Schema.Struct({ id: Schema.Number, customer: Schema.String, amount: Schema.Number, paid: Schema.Boolean })
type Order = typeof Order.Type

const CREATE_ORDERS = `CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer TEXT NOT NULL,
  amount REAL NOT NULL CHECK (amount >= 0),
  paid INTEGER NOT NULL
)`

/** Creates the target table in its own SQLite file, before the run. */
const createTarget = (filename: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(CREATE_ORDERS)).pipe(
    Effect.provide(SqliteClient.layer({ filename })),
    Effect.orDie
  )

const orders = (n: number, bad?: number) =>
  Array.from({ length: n }, (_, i) => ({ id: i + 1, customer: `c${i}`, amount: i === bad ? -1 : i * 1.5, paid: i % 2 === 0 }))

const pipelineFor = (dir: string, records: ReadonlyArray<Order>, sinkBatchSize: number) =>
  Pipeline.make({ name: "to-db", source: Source.fromIterable({ name: "orders-in", records, schema: Order }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("upper", (o: Order) => Effect.succeed({ ...o, customer: o.customer.toUpperCase() }))),
    Pipeline.toSinks({
      sinks: { db: SqlSink.make<Order>({ table: "orders", batchSize: sinkBatchSize }) },
      default: "db",
      quarantine: Sink.jsonLines({ path: join(dir, "quarantine.jsonl") })
    })
  )

interface CallRow {
  readonly call_id: string
  readonly call_type: string
  readonly status: string
  readonly node_id: string
  readonly state_id: string | null
  readonly operation_id: string | null
  readonly request_json: string
  readonly attributes_json: string
  readonly error: string | null
}

/**
 * Runs the pipeline with `TestExporter.layer` + a SQLite Landscape, the sink's target being
 * `target`; the engine batches exactly `runBatch` rows (a long window makes every batch full).
 */
const runToDb = (dir: string, records: ReadonlyArray<Order>, sinkBatchSize: number, runBatch: number) =>
  Effect.gen(function* () {
    const landscapeDb = join(dir, "landscape.db")
    const target = join(dir, "target.db")
    yield* createTarget(target)
    const { events, exit } = yield* Effect.gen(function* () {
      const exit = yield* Effect.exit(Orchestrator.run(pipelineFor(dir, records, sinkBatchSize), { batchSize: runBatch, batchWindow: "1 minute" }))
      const events = yield* Effect.flatMap(TestExporter.TestExporter, (t) => t.eventsOf("ExternalCallCompleted"))
      return { exit, events }
    }).pipe(
      Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: landscapeDb }), SqliteClient.layer({ filename: target })))
    )
    const calls = yield* querySqlite<CallRow>(landscapeDb, "SELECT * FROM calls ORDER BY created_at, rowid")
    const [sinkOp] = yield* querySqlite<{ operation_id: string; node_id: string; status: string; details_json: string }>(
      landscapeDb, "SELECT * FROM operations WHERE kind = 'sql.write'")
    const rows = yield* querySqlite<{ id: number; customer: string; amount: number; paid: number }>(target, "SELECT * FROM orders ORDER BY rowid")
    const [run] = yield* querySqlite<{ status: string; error: string | null }>(landscapeDb, "SELECT status, error FROM runs")
    return { exit, events, calls, sinkOp: sinkOp!, rows, run: run! }
  })

describe("SqlSink", () => {
  it.live("inserts every row in source order, one operation-scoped sql call per INSERT statement", () =>
    Effect.gen(function* () {
      const dir = tempDir("sightline-sqlsink-")
      const records = orders(120)
      // Engine batches of 50, 50, 20; 20 rows per INSERT → statements of 20, 20, 10, 20, 20, 10, 20.
      const { calls, events, exit, rows, run, sinkOp } = yield* runToDb(dir, records, 20, 50)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(run.status).toBe("completed")

      // The Landscape's records went to the Landscape, not to the target's transaction connection.
      const tables = yield* querySqlite<{ name: string }>(join(dir, "target.db"), "SELECT name FROM sqlite_master WHERE type = 'table'")
      expect(tables.map((t) => t.name)).toEqual(["orders"])
      expect(rows).toEqual(records.map((o) => ({ id: o.id, customer: o.customer.toUpperCase(), amount: o.amount, paid: o.paid ? 1 : 0 })))

      expect(calls.map((c) => JSON.parse(c.request_json))).toEqual(
        [20, 20, 10, 20, 20, 10, 20].map((n) => ({ table: "orders", rows: n, statement: "INSERT" }))
      )
      for (const c of calls) {
        expect(c).toMatchObject({ call_type: "sql", status: "success", state_id: null, operation_id: sinkOp.operation_id, node_id: sinkOp.node_id, error: null })
        expect(JSON.parse(c.attributes_json)).toMatchObject({
          "db.system.name": "sqlite",
          "db.operation.name": "INSERT",
          "db.collection.name": "orders",
          "sightline.db.rows_affected": JSON.parse(c.request_json).rows
        })
      }
      expect(sinkOp.status).toBe("completed")
      expect(JSON.parse(sinkOp.details_json)).toMatchObject({ rows: 120 })
      expect(JSON.parse(sinkOp.details_json).bytes).toBeGreaterThan(0)

      // Landscape first, then one event per call, carrying the operation id and no state id.
      expect(events).toHaveLength(calls.length)
      for (const e of events) {
        expect(e.operationId).toBe(sinkOp.operation_id)
        expect(e).not.toHaveProperty("stateId")
        expect(e.rowId).toBeUndefined()
        expect(e).toMatchObject({ callType: "sql", status: "success", nodeId: sinkOp.node_id })
        expect(e.attributes["db.operation.name"]).toBe("INSERT")
      }
      expect(new Set(events.map((e) => e.callId))).toEqual(new Set(calls.map((c) => c.call_id)))
    }))

  it.live("a row violating a CHECK constraint fails the run with SinkError after recording the failed call; the batch is rolled back", () =>
    Effect.gen(function* () {
      const dir = tempDir("sightline-sqlsink-fail-")
      // Row index 70 (in the engine's second batch, rows 50..99) has a negative amount.
      const { calls, events, exit, rows, run, sinkOp } = yield* runToDb(dir, orders(120, 70), 20, 50)
      expect(Exit.isFailure(exit)).toBe(true)
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.map(failure, (e) => e._tag)).toEqual(Option.some("SinkError"))
      expect(String(Option.getOrUndefined(failure)?.message)).toContain("CHECK constraint failed")

      // First batch committed; the second batch's earlier statement rolled back with it.
      expect(rows.map((r) => r.id)).toEqual(orders(50).map((o) => o.id))
      expect(calls.map((c) => [c.status, JSON.parse(c.request_json).rows])).toEqual([
        ["success", 20], ["success", 20], ["success", 10], ["success", 20], ["error", 20]
      ])
      const failed = calls[4]!
      expect(failed).toMatchObject({ call_type: "sql", state_id: null, operation_id: sinkOp.operation_id })
      expect(failed.error).toContain("CHECK constraint failed")
      expect(JSON.parse(failed.attributes_json)["sightline.db.rows_affected"]).toBe(0)
      expect(events.map((e) => e.status)).toEqual(["success", "success", "success", "success", "error"])
      expect(events.every((e) => e.operationId === sinkOp.operation_id && !("stateId" in e))).toBe(true)

      expect(run.status).toBe("failed")
      expect(run.error).toContain("CHECK constraint failed")
      expect(sinkOp.status).toBe("failed")
    }))

  it.live("a NOT NULL violation (a missing column value) fails the run the same way", () =>
    Effect.gen(function* () {
      const dir = tempDir("sightline-sqlsink-null-")
      const target = join(dir, "target.db")
      yield* createTarget(target)
      const pipeline = Pipeline.make({ name: "nulls", source: Source.fromIterable({ records: [{ id: 1 }], schema: Schema.Struct({ id: Schema.Number }) }) }).pipe(
        Pipeline.toSinks({
          sinks: { db: SqlSink.make<{ readonly id: number }>({ table: "orders", columns: ["id", "customer", "amount", "paid"] }) },
          default: "db",
          quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
        })
      )
      const exit = yield* Effect.exit(Orchestrator.run(pipeline)).pipe(
        Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: join(dir, "landscape.db") }), SqliteClient.layer({ filename: target })))
      )
      expect(Exit.isFailure(exit) && Option.map(Cause.failureOption(exit.cause), (e) => e._tag)).toEqual(Option.some("SinkError"))
      const calls = yield* querySqlite<CallRow>(join(dir, "landscape.db"), "SELECT * FROM calls")
      expect(calls.map((c) => [c.status, c.state_id === null, c.operation_id !== null])).toEqual([["error", true, true]])
      expect(calls[0]!.error).toContain("NOT NULL constraint failed")
      // The run failed: no quarantine file was committed, and its partial output (set aside) is empty.
      expect(existsSync(join(dir, "q.jsonl"))).toBe(false)
      const partial = readdirSync(dir).filter((f) => f.startsWith("q.partial-"))
      expect(partial.length).toBe(1)
      expect(readFileSync(join(dir, partial[0]!), "utf8")).toBe("")
    }))

  it.live("keeps each statement under SQLite's bound-parameter limit, whatever batchSize says; toRow shapes the record", () =>
    Effect.gen(function* () {
      const dir = tempDir("sightline-sqlsink-wide-")
      const target = join(dir, "target.db")
      const width = 100
      const names = Array.from({ length: width }, (_, j) => `c${j}`)
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE TABLE wide (${names.map((n) => `${n} INTEGER NOT NULL`).join(", ")})`)).pipe(
        Effect.provide(SqliteClient.layer({ filename: target })),
        Effect.orDie
      )
      const records = Array.from({ length: 400 }, (_, i) => ({ n: i }))
      const pipeline = Pipeline.make({ name: "wide", source: Source.fromIterable({ records, schema: Schema.Struct({ n: Schema.Number }) }) }).pipe(
        Pipeline.toSinks({
          sinks: {
            db: SqlSink.make({
              table: "wide",
              batchSize: 500,
              toRow: (r: { readonly n: number }) => Object.fromEntries(names.map((c, j) => [c, r.n * width + j]))
            })
          },
          default: "db",
          quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") })
        })
      )
      const landscapeDb = join(dir, "landscape.db")
      yield* Orchestrator.run(pipeline, { batchSize: 400, batchWindow: "1 minute" }).pipe(
        Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: landscapeDb }), SqliteClient.layer({ filename: target })))
      )
      // 32 766 parameters / 100 columns = 327 rows per statement at most.
      const calls = yield* querySqlite<CallRow>(landscapeDb, "SELECT * FROM calls ORDER BY created_at, rowid")
      expect(calls.map((c) => JSON.parse(c.request_json).rows)).toEqual([327, 73])
      const rows = yield* querySqlite<{ c0: number; c99: number }>(target, "SELECT c0, c99 FROM wide ORDER BY rowid")
      expect(rows.map((r) => [r.c0, r.c99])).toEqual(records.map((r) => [r.n * width, r.n * width + 99]))
    }))

  it.live("without columns, a row with a field the first row lacks fails with SinkError before any INSERT (no silent loss)", () =>
    Effect.gen(function* () {
      const dir = tempDir("sightline-sqlsink-extra-")
      const target = join(dir, "target.db")
      yield* createTarget(target)
      const Row = Schema.Struct({ id: Schema.Number, customer: Schema.String, amount: Schema.Number, paid: Schema.Boolean, note: Schema.optional(Schema.String) })
      const records = [{ id: 1, customer: "a", amount: 1, paid: true }, { id: 2, customer: "b", amount: 2, paid: false, note: "kept?" }]
      const pipeline = Pipeline.make({ name: "extra", source: Source.fromIterable({ records, schema: Row }) }).pipe(
        Pipeline.toSinks({ sinks: { db: SqlSink.make<typeof Row.Type>({ table: "orders" }) }, default: "db", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      const landscapeDb = join(dir, "landscape.db")
      const exit = yield* Effect.exit(Orchestrator.run(pipeline)).pipe(
        Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: landscapeDb }), SqliteClient.layer({ filename: target })))
      )
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      expect(error?._tag).toBe("SinkError")
      expect(error?.message).toContain("note")
      expect(yield* querySqlite(landscapeDb, "SELECT * FROM calls")).toEqual([])
      expect(yield* querySqlite(target, "SELECT * FROM orders")).toEqual([])
    }))

  it("requires a SqlClient in the run's type", () => {
    const pipeline = pipelineFor(tempDir("sightline-sqlsink-type-"), [], 10)
    const check = (_: Effect.Effect<unknown, unknown, Landscape.Landscape | Telemetry.Telemetry>) => undefined
    // @ts-expect-error SqlClient is not provided
    check(Orchestrator.run(pipeline))
    check(Orchestrator.run(pipeline).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))
  })
})
