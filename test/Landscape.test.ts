/**
 * The Landscape on a real SQLite file: what only SQLite has (opening a file, its connection beside a
 * user's own SQLite database). What every backend does is in the conformance suite
 * (`Landscape.write`, `Landscape.read`, `Landscape.verify`).
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { join } from "node:path"
import { CallScope, Landscape, LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { Order, querySqlite, tempDir, threeOrders } from "./helpers.js"

describe("Landscape", () => {
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
