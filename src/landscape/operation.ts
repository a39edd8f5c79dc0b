/**
 * How every Landscape operation runs.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Context, Effect } from "effect"
import { type LandscapeError, type Operation, toLandscapeError } from "./error.js"

/**
 * Runs `effect` as Landscape operation `name`: on the Landscape's own connection, untraced, its
 * failures as `LandscapeError`. `@effect/sql` finds an open transaction through one tag shared by
 * every client, so without the `omit` a Landscape write made inside a user's `sql.withTransaction`
 * would go to the user's database (and be rolled back with it). Its statements are not traced: a
 * span per audit statement would bury the pipeline's own spans.
 */
export const operation = <A>(name: Operation, effect: Effect.Effect<A, SqlError.SqlError | LandscapeError>): Effect.Effect<A, LandscapeError> =>
  effect.pipe(
    Effect.mapError(toLandscapeError(name)),
    Effect.withTracerEnabled(false),
    Effect.mapInputContext((context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context))
  )

/** The context change of {@link operation}, for streams. */
export const ownConnection = (context: Context.Context<never>) => Context.omit(SqlClient.TransactionConnection)(context)
