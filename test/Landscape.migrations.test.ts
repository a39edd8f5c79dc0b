/**
 * Versioned, forward-only migrations: a Landscape file made by migrations 0001 and 0002 only, with
 * a run recorded the way the engine did before 0003, is migrated in place (never recreated), keeps
 * its records, reads back, and verifies (its hashes; it has no chain).
 */
import { SqlClient } from "@effect/sql"
import * as Migrator from "@effect/sql/Migrator"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { join } from "node:path"
import { Landscape, LandscapeSqlite } from "../src/index.js"
import { migrations } from "../src/landscape/migrations.js"
import { schemaVersion } from "../src/landscape/service.js"
import { querySqlite, tempDir } from "./helpers.js"
import { runOrders } from "./support/landscapes.js"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** A file at schema 0002 holding one completed run of one row, as the engine recorded it then. */
const oldLandscape = (db: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* Migrator.make({})({ loader: Effect.map(migrations, (all) => all.filter(([id]) => id <= 2)) })
    const data = `{"amount":"12.5","customer":"ada","id":"1"}`
    const config = `{"nodes":[]}`
    yield* sql.unsafe(`INSERT INTO runs (run_id, pipeline, status, started_at, finished_at, duration_ms, config_json, config_hash, telemetry_enabled,
      rows_read, rows_quarantined, owner_host, owner_pid, heartbeat_at) VALUES ('old-run', 'orders', 'completed', 1000, 2000, 1000, ?, ?, 0, 1, 0, 'h', 1, 2000)`, [config, sha256(config)])
    yield* sql.unsafe(`INSERT INTO nodes (node_id, run_id, name, kind, position, config_json) VALUES
      ('n-src', 'old-run', 'orders', 'source', 0, '{}'), ('n-norm', 'old-run', 'normalize', 'transform', 1, '{}'), ('n-sink', 'old-run', 'small', 'sink', 2, '{}')`)
    yield* sql.unsafe(`INSERT INTO rows (row_id, run_id, source_node_id, row_index, source_data_json, source_data_hash, created_at)
      VALUES ('r1', 'old-run', 'n-src', 0, ?, ?, 1100)`, [data, sha256(data)])
    yield* sql.unsafe(`INSERT INTO tokens (token_id, row_id, run_id, created_at, outcome, sink_node_id, completed_at) VALUES ('t1', 'r1', 'old-run', 1100, 'routed', 'n-sink', 1200)`)
    yield* sql.unsafe(`INSERT INTO node_states (state_id, run_id, token_id, node_id, step_index, status, input_hash, output_hash, started_at, completed_at, duration_ms)
      VALUES ('s1', 'old-run', 't1', 'n-norm', 1, 'completed', ?, ?, 1100, 1101, 1)`, [sha256(data), sha256("out")])
    yield* sql.unsafe(`INSERT INTO operations (operation_id, run_id, node_id, kind, status, details_json, started_at, completed_at, duration_ms)
      VALUES ('o1', 'old-run', 'n-src', 'memory.read', 'completed', '{"records":1}', 1000, 2000, 1000)`)
  }).pipe(Effect.provide(SqliteClient.layer({ filename: db })), Effect.orDie)

describe("migrations", () => {
  it.live("an old file is migrated in place, its run read back and verified, and new runs are chained beside it", () =>
    Effect.gen(function* () {
      const db = join(tempDir(), "old.db")
      yield* oldLandscape(db)
      const before = yield* querySqlite<{ migration_id: number }>(db, "SELECT migration_id FROM effect_sql_migrations")
      expect(before.map((m) => m.migration_id)).toEqual([1, 2])
      // Read-only (what `sightline serve` opens) cannot migrate: it says so, and how to.
      const refused = yield* Effect.flip(Landscape.runs().pipe(Effect.provide(LandscapeSqlite.layer({ filename: db, readonly: true }))))
      expect(refused).toMatchObject({ _tag: "LandscapeError", operation: "open" })
      expect(refused.message).toContain(`is at schema 2; this Sightline reads schema ${schemaVersion}. Open it read-write once to migrate it`)

      const [run] = yield* Landscape.runs().pipe(Effect.provide(LandscapeSqlite.layer({ filename: db })))
      expect(run).toMatchObject({ runId: "old-run", status: "completed", canonicalVersion: "sha256-rfc8785-v1", chainHash: null })
      const applied = yield* querySqlite<{ migration_id: number }>(db, "SELECT migration_id FROM effect_sql_migrations")
      expect(applied.map((m) => m.migration_id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
      expect(applied.at(-1)!.migration_id).toBe(schemaVersion)
      const layer = LandscapeSqlite.layer({ filename: db })
      const e = Option.getOrThrow(yield* Landscape.explain({ runId: "old-run", rowIndex: 0 }).pipe(Effect.provide(layer)))
      expect(e.row.data).toEqual({ status: "stored", value: { amount: "12.5", customer: "ada", id: "1" } })
      expect(e.states.map((s) => s.node)).toEqual(["normalize"])
      expect(e.outcome).toMatchObject({ outcome: "routed", sink: "small" })
      // Migration 0011 counted the old run's statistics from its records: its summary reads them.
      const s = Option.getOrThrow(yield* Landscape.runSummary("old-run").pipe(Effect.provide(layer)))
      expect(s.nodes.find((n) => n.name === "normalize")).toMatchObject({ states: { completed: 1 }, durationMs: { p50: 1, p95: 1, max: 1 } })
      expect(s.outcomes).toMatchObject({ routed: 1, none: 0 })
      expect(s.sinks).toEqual({ small: 1 })
      const report = yield* Landscape.verify("old-run").pipe(Effect.provide(layer))
      expect(report).toMatchObject({ ok: true, problems: [], counts: { links: 0, rows: 1, tokens: 1, nodeStates: 1, operations: 1, hashesChecked: 2 } })

      // The migrated file takes new, chained runs; purge works on the old run's rows (now nullable).
      const summary = yield* runOrders(db)
      expect((yield* Landscape.verify(summary.runId).pipe(Effect.provide(layer))).ok).toBe(true)
      const purged = yield* Landscape.purge({ olderThan: 3000 }).pipe(Effect.provide(layer))
      expect(purged).toMatchObject({ runs: ["old-run"], rows: 1 })
    }))
})
