/**
 * What differs between the Landscape's two SQL dialects, SQLite and PostgreSQL, in the statements
 * it builds as text (`sql.unsafe`: fixed texts the client caches as prepared statements, values
 * always bound). Statements written with the `sql` template need none of this: `@effect/sql`
 * compiles their placeholders per dialect.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"

export type Dialect = "sqlite" | "pg"

/** The client's dialect: `pg` for `@effect/sql-pg`, `sqlite` for every other client. */
export const dialectOf = (sql: SqlClient.SqlClient): Dialect => sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })

/**
 * A statement written with `?` placeholders in the client's own: `$1`, `$2`, … on PostgreSQL
 * (https://www.postgresql.org/docs/15/sql-prepare.html), unchanged on SQLite. Only for texts this
 * module's callers write themselves, which hold no `?` but placeholders (no user text, no
 * PostgreSQL `?` JSON operator).
 */
export const placeholders = (dialect: Dialect, text: string): string => {
  if (dialect === "sqlite") return text
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

/**
 * An aggregate of one JSON array per row (`values`, comma-separated column expressions) into one
 * JSON array as text, `[]` when there are none. SQLite keeps every double exactly in its JSON text
 * (17 significant digits); PostgreSQL 12+ prints `double precision` in its shortest exact form.
 */
export const jsonArrayAgg = (dialect: Dialect, values: string): string =>
  dialect === "pg" ? `COALESCE(json_agg(json_build_array(${values})), '[]')::text` : `json_group_array(json_array(${values}))`
