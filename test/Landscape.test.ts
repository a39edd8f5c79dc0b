/**
 * The Landscape service on a real SQLite file.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { CallScope, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { Order, querySqlite, tempDir, threeOrders } from "./helpers.js"

describe("Landscape", () => {
  it.live("applies its migrations once and records them", () =>
    Effect.gen(function* () {
      const db = join(tempDir(), "nested", "landscape.db")
      for (let i = 0; i < 2; i++) yield* Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: db }))
      const applied = yield* querySqlite<{ migration_id: number; name: string }>(db, "SELECT migration_id, name FROM effect_sql_migrations")
      expect(applied).toEqual([
        { migration_id: 1, name: "create_landscape" },
        { migration_id: 2, name: "run_owner_and_interrupted" },
        { migration_id: 3, name: "chain_and_read_side" },
        { migration_id: 4, name: "parent_run" }
      ])
      const tables = yield* querySqlite<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(
        ["calls", "node_states", "nodes", "operations", "routing_events", "rows", "runs", "tokens"]
      ))
    }))

  it.live("a file that cannot be opened fails the layer with LandscapeError, not a defect", () =>
    Effect.gen(function* () {
      const directory = tempDir() // a directory is not a database file
      const error = yield* Effect.flip(Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename: directory })))
      expect(error).toBeInstanceOf(Landscape.LandscapeError)
      expect(error).toMatchObject({ operation: "open" })
    }))

  it.live("records on its own connection even inside a user's sql.withTransaction on another database", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const db = join(dir, "landscape.db")
      const target = join(dir, "target.db")
      const TargetSql = SqliteClient.layer({ filename: target })
      yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE audit_probe (n INTEGER)`), TargetSql)
      const pipeline = Pipeline.make({ name: "tx", source: Source.fromIterable({ records: threeOrders, schema: Order }) }).pipe(
        Pipeline.transform(Pipeline.makeTransform("write", (o: Order) =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* sql.withTransaction(Effect.gen(function* () {
              yield* sql`INSERT INTO audit_probe (n) VALUES (${o.id})`
              yield* CallScope.recordCall({ callType: "sql", status: "success", attributes: { "db.system.name": "sqlite" }, latencyMs: 0 })
            }))
            return o
          }).pipe(Effect.orDie))),
        Pipeline.toSinks({ sinks: { out: Sink.jsonLines({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
      )
      yield* Orchestrator.run(pipeline).pipe(
        Effect.provide(Layer.mergeAll(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }), TargetSql))
      )
      const calls = yield* querySqlite<{ n: number }>(db, "SELECT count(*) AS n FROM calls")
      expect(calls).toEqual([{ n: 3 }])
      const targetTables = yield* querySqlite<{ name: string }>(target, "SELECT name FROM sqlite_master WHERE type = 'table'")
      expect(targetTables.map((t) => t.name)).toEqual(["audit_probe"])
    }))
})
