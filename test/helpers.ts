/**
 * Test helpers: temporary directories, reading a Landscape database back with real SQLite, and a
 * small pipeline shared by the engine tests.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Schema } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Pipeline, Sink, Source } from "../src/index.js"

export const tempDir = (prefix = "sightline-"): string => mkdtempSync(join(tmpdir(), prefix))

/** Runs `query` against the SQLite file with its own connection (not the Landscape's). */
export const querySqlite = <A extends object>(filename: string, query: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(query)).pipe(
    Effect.provide(SqliteClient.layer({ filename })),
    Effect.orDie
  )

export const Order = Schema.Struct({ id: Schema.NumberFromString, customer: Schema.String, amount: Schema.NumberFromString })
export type Order = typeof Order.Type

export const threeOrders = [
  { id: "1", customer: "ada", amount: "12.5" },
  { id: "2", customer: "grace", amount: "250" },
  { id: "3", customer: "alan", amount: "99" }
]

/** normalize → gate "size" (amount ≥ 100 → "large", else continue) → sinks small (default) / large. */
export const ordersPipeline = (outDir: string, records: Iterable<unknown> = threeOrders) =>
  Pipeline.make({ name: "orders", source: Source.fromIterable({ name: "orders", records, schema: Order }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("normalize", (o: Order) => Effect.succeed({ ...o, customer: o.customer.toUpperCase() }))),
    Pipeline.gate(Pipeline.makeGate("size", ["large"], (o: Order) => Effect.succeed(o.amount >= 100 ? "large" as const : Pipeline.Continue))),
    Pipeline.toSinks({
      sinks: { small: Sink.csv<Order>({ path: join(outDir, "small.csv") }), large: Sink.jsonLines<Order>({ path: join(outDir, "large.jsonl") }) },
      default: "small",
      quarantine: Sink.jsonLines({ path: join(outDir, "quarantine.jsonl") })
    })
  )
