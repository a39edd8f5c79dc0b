/**
 * A database sink on `@effect/sql`: each batch the engine hands it is written with multi-row
 * `INSERT` statements inside one transaction, and every statement is recorded in the Landscape as
 * an operation-scoped external call (`callType: "sql"`), then emitted as `ExternalCallCompleted`
 * (DESIGN.md invariant 4: Landscape first).
 *
 * The sink requires a `SqlClient` for the *target* database, which the user provides (for example
 * `SqliteClient.layer({ filename })` from `@effect/sql-sqlite-node` or `PgClient.layer(...)` from
 * `@effect/sql-pg`); it is never the Landscape's own connection. `CallScope` is provided by the
 * engine (`Orchestrator.run` removes it from the requirements), `Landscape` and `Telemetry` are
 * required by the run anyway.
 *
 * A failed statement is recorded first (status `"error"`, with the driver's message), then the write
 * fails with `SinkError`, fatal for the run; the transaction is rolled back, so none of the batch's
 * rows remain. Statements of that batch that had succeeded before it stay recorded as `"success"`
 * (each call records what the statement did; the run's failure records that the batch was lost).
 *
 * @example
 * const pipeline = Pipeline.make({ name: "orders", source }).pipe(
 *   Pipeline.toSinks({
 *     sinks: { db: SqlSink.make<Order>({ table: "orders" }) },
 *     default: "db",
 *     quarantine: Sink.jsonLines({ path: "quarantine.jsonl" })
 *   })
 * )
 * Orchestrator.run(pipeline).pipe(Effect.provide(SqliteClient.layer({ filename: "target.db" })), ...)
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect } from "effect"
import { type CallScope, recordCall } from "./CallScope.js"
import type { Landscape } from "./Landscape.js"
import * as Sink from "./Sink.js"
import { SinkError, type SinkWriter } from "./Sink.js"
import type { Telemetry } from "./Telemetry.js"
import type { AttributeValue } from "./TelemetryEvent.js"
import * as RateLimit from "./internal/rateLimit.js"
import type * as RateLimiter from "effect/RateLimiter"

/**
 * The database system, as OpenTelemetry's `db.system.name` spells it.
 *
 * @since 0.1.0
 */
export type System = "sqlite" | "postgresql" | "mysql" | "microsoft.sql_server" | "clickhouse"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options<A> {
  /** Target table; `schema.table` is accepted. It must exist (the sink creates nothing). */
  readonly table: string
  /**
   * Columns to insert, in this order; other fields of a row are left out, a missing field is
   * inserted as `NULL`. Default: the fields of the first row written; a later row with a field
   * outside them fails the write with `SinkError` (rather than silently losing the value).
   */
  readonly columns?: ReadonlyArray<string>
  /**
   * Rows per `INSERT` statement. Default 500. Lowered automatically when rows × columns would
   * exceed the database's limit on bound parameters (32 766 for SQLite, 65 535 for PostgreSQL,
   * 2 100 for SQL Server).
   * However many statements a batch takes, they run in one transaction.
   */
  readonly batchSize?: number
  /** Turns a row into the record to insert (field → column). Default: the row itself, which must be an object. */
  readonly toRow?: (a: A) => Record<string, unknown>
  /**
   * `db.system.name` on each recorded call. Default: the dialect of the `SqlClient` provided
   * (`"sqlite"` for `SqliteClient`, `"postgresql"` for `PgClient`, ...), so the audit trail cannot
   * name the wrong database; `"sqlite"` if the dialect is unknown.
   */
  readonly system?: System
  /**
   * The target database's rate limit: each `INSERT` statement takes a permit of this Effect
   * `RateLimiter` (`RateLimiter.make({ limit, interval })`). A batch takes its statements' permits
   * before its transaction begins (so no lock is held while it waits), and each statement's call
   * records its wait as `sightline.rate_limit.wait_ms`, apart from its latency.
   */
  readonly rateLimit?: RateLimiter.RateLimiter
}

/** Most bound parameters one statement may carry, per dialect. */
const maxParameters = { sqlite: 32_766, pg: 65_535, mysql: 65_535, mssql: 2_100, clickhouse: 65_535 } as const

/**
 * Values better-sqlite3 cannot bind, made bindable: booleans as 1/0, dates as ISO 8601, objects
 * and arrays as JSON text. Used only when the client's dialect is SQLite; other drivers get the
 * values unchanged (they bind these types themselves).
 */
const sqliteValue = (value: unknown): unknown => {
  if (typeof value === "boolean") return value ? 1 : 0
  if (value instanceof Date) return value.toISOString()
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) return JSON.stringify(value)
  return value
}

const jsonSize = (values: ReadonlyArray<unknown>): number =>
  Buffer.byteLength(JSON.stringify(values, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ?? "")

/** Rows affected as the driver reports them (better-sqlite3 `changes`, postgres.js `count`), if it does. */
const affectedRows = (raw: unknown): number | undefined => {
  if (raw === null || typeof raw !== "object") return undefined
  const r = raw as { readonly changes?: unknown; readonly count?: unknown; readonly rowCount?: unknown; readonly affectedRows?: unknown }
  for (const v of [r.changes, r.count, r.rowCount, r.affectedRows]) {
    if (typeof v === "number") return v
    if (typeof v === "bigint") return Number(v)
  }
  return undefined
}

/**
 * Runs `effect` outside the current `@effect/sql` transaction. The transaction's connection is
 * found through one `TransactionConnection` tag shared by every `SqlClient`, so without this the
 * Landscape's own statements would run on the target database's transaction connection (and be
 * rolled back with it).
 */
const outsideTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(effect, (context: Context.Context<R>) =>
    Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<R>)

const errorMessage = (error: unknown): string => {
  const cause = (error as { readonly cause?: unknown }).cause
  if (cause instanceof Error && cause.message !== "") return cause.message
  return error instanceof Error ? error.message : String(error)
}

/**
 * Builds the sink. Each recorded call has `request: { table, rows, statement: "INSERT" }` and the
 * attributes `db.system.name`, `db.operation.name` (`"INSERT"`), `db.collection.name` (the table),
 * `db.query.summary` (`"INSERT <table>"`) and `sightline.db.rows_affected` (the rows the statement
 * inserted as the driver reports them, else the rows sent; 0 on error — OpenTelemetry has no
 * attribute for rows affected, and `db.response.returned_rows` would be 0 for an `INSERT`).
 *
 * The sink's operation records `{ table, bytes }` when the run completes; `bytes` is an estimate:
 * the UTF-8 size of the inserted values as JSON, counted once their transaction has committed (the
 * database's own storage size is not known to the sink). Each batch is its own transaction, so a
 * run that fails leaves the batches committed before it in the table (their tokens are `routed`).
 *
 * The services the writer uses (`SqlClient`, `CallScope`, `Landscape`, `Telemetry`) are taken
 * when the engine opens the sink, inside the sink's operation, which is also the scope of its writes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A = Record<string, unknown>>(
  options: Options<A>
): Sink.Sink<A, SqlClient.SqlClient | CallScope | Landscape | Telemetry> => {
  const { table } = options
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 500))
  const fail = (message: string, cause?: unknown) =>
    new SinkError({ sink: table, message, ...(cause === undefined ? {} : { cause }) })
  const toRow = options.toRow ?? ((a: A) => a as Record<string, unknown>)

  const open = Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const context = yield* Effect.context<SqlClient.SqlClient | CallScope | Landscape | Telemetry>()
    const dialect = sql.onDialectOrElse({
      orElse: () => "sqlite" as const,
      pg: () => "pg" as const,
      mysql: () => "mysql" as const,
      mssql: () => "mssql" as const,
      clickhouse: () => "clickhouse" as const
    })
    const system: System = options.system ?? {
      sqlite: "sqlite" as const,
      pg: "postgresql" as const,
      mysql: "mysql" as const,
      mssql: "microsoft.sql_server" as const,
      clickhouse: "clickhouse" as const
    }[dialect]
    const encode = dialect === "sqlite" ? sqliteValue : (v: unknown) => v
    let columns: ReadonlyArray<string> | undefined = options.columns?.slice()
    const strict = options.columns === undefined
    let bytes = 0

    /** The batch as records with exactly `columns`, in order; fails on a row that does not fit. */
    const records = (rows: ReadonlyArray<A>) =>
      Effect.suspend(() => {
        const out: Array<Record<string, unknown>> = []
        for (const [i, row] of rows.entries()) {
          const record = toRow(row) as unknown
          if (record === null || typeof record !== "object" || Array.isArray(record)) {
            return Effect.fail(fail(`row ${i} of the batch is not an object (use the toRow option)`))
          }
          const fields = record as Record<string, unknown>
          columns ??= Object.keys(fields)
          if (columns.length === 0) return Effect.fail(fail(`row ${i} of the batch has no fields to insert`))
          if (strict) {
            const known = new Set(columns)
            const extra = Object.keys(fields).filter((k) => !known.has(k))
            if (extra.length > 0) {
              return Effect.fail(fail(`row ${i} of the batch has fields that are not columns of the first row: ${extra.join(", ")} (set the columns option)`))
            }
          }
          const fixed: Record<string, unknown> = {}
          for (const column of columns) fixed[column] = fields[column] === undefined ? null : encode(fields[column])
          out.push(fixed)
        }
        return Effect.succeed(out)
      })

    /** One multi-row INSERT, recorded as a call whatever its outcome. */
    const insert = (chunk: ReadonlyArray<Record<string, unknown>>, waitedMs: number | undefined) =>
      Effect.gen(function* () {
        const start = performance.now()
        const result = yield* Effect.either(sql`INSERT INTO ${sql(table)} ${sql.insert(chunk)}`.raw)
        const latencyMs = performance.now() - start
        const ok = result._tag === "Right"
        const attributes: Record<string, AttributeValue> = {
          "db.system.name": system,
          "db.operation.name": "INSERT",
          "db.collection.name": table,
          "db.query.summary": `INSERT ${table}`,
          "sightline.db.rows_affected": ok ? affectedRows(result.right) ?? chunk.length : 0,
          ...(waitedMs === undefined ? {} : { [RateLimit.waitAttribute]: waitedMs })
        }
        const error = ok ? undefined : errorMessage(result.left)
        yield* outsideTransaction(recordCall({
          callType: "sql",
          status: ok ? "success" : "error",
          request: { table, rows: chunk.length, statement: "INSERT" },
          attributes,
          latencyMs,
          ...(error === undefined ? {} : { error })
        }))
        if (!ok) return yield* fail(`INSERT into ${table} failed: ${error}`, result.left)
      })

    const writer: SinkWriter<A> = {
      write: (rows) => {
        if (rows.length === 0) return Effect.void
        return Effect.gen(function* () {
          const batch = yield* records(rows)
          const perStatement = Math.max(1, Math.min(batchSize, Math.floor(maxParameters[dialect] / columns!.length)))
          const chunks: Array<ReadonlyArray<Record<string, unknown>>> = []
          for (let i = 0; i < batch.length; i += perStatement) chunks.push(batch.slice(i, i + perStatement))
          // Permits first, outside the transaction: a wait for the rate limit holds no lock.
          const waits = yield* Effect.forEach(chunks, () => RateLimit.acquire(options.rateLimit))
          const transaction = Effect.forEach(chunks, (chunk, k) => insert(chunk, waits[k]), { discard: true })
          yield* sql.withTransaction(transaction).pipe(
            Effect.catchTag("SqlError", (e) => Effect.fail(fail(`transaction on ${table} failed: ${errorMessage(e)}`, e)))
          )
          bytes += jsonSize(batch.map((r) => Object.values(r)))
        }).pipe(Effect.provide(context))
      },
      commit: Effect.sync(() => ({ table, bytes }))
    }
    return writer
  })

  return Sink.make({
    config: {
      format: "sql",
      system: options.system ?? "from the SqlClient's dialect",
      table,
      columns: options.columns ?? "first row",
      batchSize
    },
    operation: "sql.write",
    open: () => open
  })
}
