/**
 * Multi-row `INSERT` statements for the Landscape's batch writes, built once per table, row count
 * and dialect and run with `sql.unsafe` (the text is fixed, every value is a bound parameter).
 *
 * A batch of N records is written with at most one statement per power of two up to `maxRows`
 * (N = 300 → 256 + 32 + 8 + 4), so each table has a handful of distinct statement texts, all of
 * which stay in the client's prepared-statement cache (`@effect/sql-sqlite-node` keeps 200). One
 * statement of 256 rows costs a fraction of 256 one-row statements, and compiling a
 * `sql.insert(...)` fragment per batch (thousands of parameters each time) was the largest cost of
 * the write path before this module.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import { yieldIfBusy } from "../internal/eventLoop.js"
import { dialectOf } from "./dialect.js"

/** Bound parameters one statement may carry: SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` (32,766), PostgreSQL's protocol limit (65,535). */
const maxParameters = { sqlite: 32_766, pg: 65_535 } as const

/** Largest rows per statement whatever the parameter limit: beyond this a bigger statement saves nothing measurable. */
const maxRowsPerStatement = 256

export interface Table<A> {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  /**
   * Appends the values of `record`, in `columns` order, to `params`. `seq` is the hash-chain link
   * the records belong to and `ord` the record's position among them (see `chain.ts`).
   */
  readonly values: (record: A, params: Array<unknown>, seq: number, ord: number) => void
  /** What follows the values: an `ON CONFLICT (…) DO UPDATE SET …` clause that makes the insert an upsert. Default none. */
  readonly onConflict?: string
}

/** Builds the statements of one table for one client; returns the function that writes records with them. */
export const makeInserter = <A>(sql: SqlClient.SqlClient, table: Table<A>) => {
  const dialect = dialectOf(sql)
  const width = table.columns.length
  const limit = Math.max(1, Math.min(maxRowsPerStatement, Math.floor(maxParameters[dialect] / width)))
  const head = `INSERT INTO ${table.name} (${table.columns.join(", ")}) VALUES `
  const texts = new Map<number, string>()
  const text = (rows: number): string => {
    let t = texts.get(rows)
    if (t === undefined) {
      const tuples: Array<string> = []
      for (let r = 0; r < rows; r++) {
        const ps: Array<string> = []
        for (let c = 0; c < width; c++) ps.push(dialect === "pg" ? `$${r * width + c + 1}` : "?")
        tuples.push(`(${ps.join(", ")})`)
      }
      t = head + tuples.join(", ") + (table.onConflict === undefined ? "" : ` ${table.onConflict}`)
      texts.set(rows, t)
    }
    return t
  }
  /**
   * Inserts `records` (in order, as link `seq` of their run's chain, the first at position
   * `firstOrd` among the link's records of their kind) with as few statements as the
   * powers-of-two chunking gives.
   */
  return (records: ReadonlyArray<A>, seq: number, firstOrd = 0): Effect.Effect<void, SqlError.SqlError> =>
    Effect.suspend(() => {
      const statements: Array<Effect.Effect<unknown, SqlError.SqlError>> = []
      let offset = 0
      while (offset < records.length) {
        let rows = limit
        while (rows > records.length - offset) rows >>= 1
        const params: Array<unknown> = []
        for (let i = offset; i < offset + rows; i++) table.values(records[i]!, params, seq, firstOrd + i)
        // SQLite runs each statement synchronously: let the event loop in between (see eventLoop.ts).
        statements.push(Effect.zipRight(sql.unsafe(text(rows), params), yieldIfBusy()))
        offset += rows
      }
      return statements.length === 0 ? Effect.void : statements.length === 1 ? Effect.asVoid(statements[0]!) : Effect.all(statements, { discard: true })
    })
}
