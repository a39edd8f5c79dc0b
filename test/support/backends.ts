/**
 * The Landscape's backends for the conformance suite: every Landscape behaviour is tested on each,
 * through its production layer (`LandscapeSqlite.layer` on a file, `LandscapePg.layer` on the
 * throwaway server of `postgres.ts`), the way Dagster runs one storage suite against every backend.
 *
 * A test asks its backend for a store (`fresh`, or a `copy` of the shared one, which holds an orders
 * run with a quarantined row and an LLM run with external calls) and reads or tampers with it
 * through `exec`, raw SQL on its own connection: what a tamperer with database access could do.
 */
import { describe } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, type Layer, Redacted } from "effect"
import { join } from "node:path"
import Pg from "pg"
import { inject } from "vitest"
import type { Duration } from "effect"
import { type Landscape, LandscapePg, LandscapeSqlite } from "../../src/index.js"
import type { LandscapeError } from "../../src/Landscape.js"
import { querySqlite, tempDir } from "../helpers.js"
import { copyOf, runLlm, runOrders } from "./landscapes.js"

export interface LayerOptions {
  readonly readonly?: boolean
  readonly staleRunAfter?: Duration.DurationInput
}

export interface Store {
  /** What the CLI's `--db` takes: the SQLite file, or the PostgreSQL URL. */
  readonly target: string
  readonly layer: (options?: LayerOptions) => Layer.Layer<Landscape.Landscape, LandscapeError>
  /** Raw SQL on a connection of its own (statements separated by `;` allowed when there are no results). */
  readonly exec: <A extends object = Record<string, unknown>>(sql: string) => Effect.Effect<ReadonlyArray<A>>
}

export interface Shared {
  readonly store: Store
  readonly orders: string
  readonly llm: string
}

export interface Backend {
  readonly name: "sqlite" | "postgres"
  /** `false` when the backend's server is not there (PostgreSQL outside CI without Debian's package): its tests are skipped. */
  readonly available: boolean
  /** A new, empty Landscape (migrated when its layer is first built). */
  readonly fresh: () => Effect.Effect<Store>
  /** A private copy of `store` (whose layers must all be closed). */
  readonly copy: (store: Store) => Effect.Effect<Store>
  /** The orders and LLM runs, written once per test file by the real engine. */
  readonly shared: () => Effect.Effect<Shared>
  /** Runs `statement` with the store's CHECK constraints not enforced: an edit the schema itself refuses. */
  readonly withoutChecks: (store: Store, statement: string) => Effect.Effect<void>
  /** The names of the store's indexes that start with `prefix`. */
  readonly indexes: (store: Store, prefix: string) => Effect.Effect<ReadonlyArray<string>>
  /** The names of the store's tables. */
  readonly tables: (store: Store) => Effect.Effect<ReadonlyArray<string>>
  /** Whether the database plans `query` through index `index`. */
  readonly usesIndex: (store: Store, query: string, index: string) => Effect.Effect<boolean>
}

const sharedOnce = (backend: Pick<Backend, "fresh">) => {
  let shared: Promise<Shared> | undefined
  return () =>
    Effect.promise(() =>
      shared ??= Effect.runPromise(Effect.gen(function* () {
        const store = yield* backend.fresh()
        const orders = yield* runOrders(store.layer())
        const llm = yield* runLlm(store.layer())
        return { store, orders: orders.runId, llm: llm.runId }
      }))
    )
}

const sqliteStore = (filename: string): Store => ({
  target: filename,
  layer: (options) => LandscapeSqlite.layer({ filename, ...options }),
  exec: <A extends object>(sql: string) => querySqlite<A>(filename, sql)
})

const sqliteBase = {
  name: "sqlite" as const,
  available: true,
  fresh: () => Effect.sync(() => sqliteStore(join(tempDir(), "landscape.db"))),
  copy: (store: Store) => Effect.sync(() => sqliteStore(copyOf(store.target))),
  withoutChecks: (store: Store, statement: string) =>
    Effect.sync(() => {
      const raw = new Database(store.target)
      try {
        raw.exec(`PRAGMA ignore_check_constraints = ON; ${statement}`)
      } finally {
        raw.close()
      }
    }),
  indexes: (store: Store, prefix: string) =>
    Effect.map(store.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '${prefix}%' ORDER BY name`), (rows) => rows.map((r) => r.name)),
  tables: (store: Store) =>
    Effect.map(store.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"), (rows) => rows.map((r) => r.name)),
  usesIndex: (store: Store, query: string, index: string) =>
    Effect.map(store.exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`), (rows) => rows.some((r) => r.detail.includes(index)))
}

export const sqlite: Backend = { ...sqliteBase, shared: sharedOnce(sqliteBase) }

/** Raw SQL on its own connection to `url`: what `exec` does on PostgreSQL. */
const pgQuery = <A extends object>(url: string, sql: string) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: url })
    await client.connect()
    try {
      const result = await client.query(sql)
      // A multi-statement text gives one result per statement: the last is the one asked for.
      const last = Array.isArray(result) ? result.at(-1) : result
      return (last?.rows ?? []) as ReadonlyArray<A>
    } finally {
      await client.end()
    }
  })

const server = (): string => inject("postgresUrl")
let databases = 0
const newDatabaseName = () => `sightline_${process.pid}_${Date.now().toString(36)}_${databases++}`

const pgStore = (database: string): Store => {
  const url = `${server()}/${database}`
  return {
    target: url,
    layer: (options) => LandscapePg.layer({ url: Redacted.make(url), ...options }),
    exec: <A extends object>(sql: string) => pgQuery<A>(url, sql)
  }
}

const databaseOf = (store: Store) => new URL(store.target).pathname.slice(1)

const pgBase = {
  name: "postgres" as const,
  get available() {
    return server() !== ""
  },
  fresh: () =>
    Effect.gen(function* () {
      const name = newDatabaseName()
      yield* pgQuery(`${server()}/postgres`, `CREATE DATABASE ${name}`)
      return pgStore(name)
    }),
  // A template copy needs the source to have no sessions: the layers that wrote it are closed, so
  // any left are pool connections still closing.
  copy: (store: Store) =>
    Effect.gen(function* () {
      const name = newDatabaseName()
      const source = databaseOf(store)
      yield* pgQuery(`${server()}/postgres`, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${source}' AND pid <> pg_backend_pid()`)
      yield* pgQuery(`${server()}/postgres`, `CREATE DATABASE ${name} TEMPLATE ${source}`)
      return pgStore(name)
    }),
  withoutChecks: (store: Store, statement: string) =>
    Effect.asVoid(store.exec(`ALTER TABLE calls DROP CONSTRAINT calls_check; ${statement}`)),
  indexes: (store: Store, prefix: string) =>
    Effect.map(store.exec<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE indexname LIKE '${prefix}%' ORDER BY indexname`), (rows) => rows.map((r) => r.name)),
  tables: (store: Store) =>
    Effect.map(store.exec<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"), (rows) => rows.map((r) => r.name)),
  // A handful of rows would be scanned whatever the indexes: plan as for a large table.
  usesIndex: (store: Store, query: string, index: string) =>
    Effect.map(store.exec<{ "QUERY PLAN": string }>(`SET enable_seqscan = off; EXPLAIN ${query}`), (rows) => rows.some((r) => r["QUERY PLAN"].includes(index)))
}

export const postgres: Backend = { ...pgBase, shared: sharedOnce(pgBase) }

export const backends: ReadonlyArray<Backend> = [sqlite, postgres]

/** `body`'s tests once per backend, in a `describe` named after it; skipped where the backend is not available. */
export const eachBackend = (body: (backend: Backend) => void): void => {
  for (const backend of backends) describe.skipIf(!backend.available)(backend.name, () => body(backend))
}
