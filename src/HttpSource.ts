/**
 * A source that reads JSON records from an HTTP API, page by page, following a `next` link or a
 * cursor. Every page request goes through the {@link AuditedHttpClient}, so it is recorded in the
 * Landscape as an operation-scoped call (the engine provides the source's `OperationScope`) and
 * then emitted as `ExternalCallCompleted`.
 *
 * A request that fails, a status ≥ 400, a page that is not JSON, or more than `maxPages` pages fail
 * the run with `SourceError` (after the call is recorded). A record the schema rejects is
 * quarantined, as with every source.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Chunk, Effect, Option, type Schema, Stream } from "effect"
import * as AuditedHttpClient from "./AuditedHttpClient.js"
import type { CallScope } from "./CallScope.js"
import * as Redaction from "./internal/redaction.js"
import type { Landscape } from "./Landscape.js"
import * as Source from "./Source.js"
import { SourceError, type SourceRecord } from "./Source.js"
import type { Telemetry } from "./Telemetry.js"

/**
 * How to find the next page from the current one: returns the next URL, or `undefined` at the end.
 *
 * @since 0.1.0
 */
export type Paging = (page: unknown, url: string) => string | undefined

const field = (page: unknown, name: string): unknown =>
  page !== null && typeof page === "object" && !Array.isArray(page) ? (page as Record<string, unknown>)[name] : undefined

/**
 * Follows a link in the page body (absolute, or relative to the current URL). Default field `next`.
 *
 * @since 0.1.0
 */
export const nextLink = (name = "next"): Paging => (page, url) => {
  const next = field(page, name)
  return typeof next === "string" && next !== "" ? new URL(next, url).toString() : undefined
}

/**
 * Reads a cursor from the page body (`field`, default `next_cursor`) and requests the same URL with
 * the query parameter `param` (default `cursor`) set to it. A `null`, empty or missing cursor ends.
 *
 * @since 0.1.0
 */
export const cursor = (options: { readonly field?: string; readonly param?: string } = {}): Paging => (page, url) => {
  const value = field(page, options.field ?? "next_cursor")
  if ((typeof value !== "string" && typeof value !== "number") || value === "") return undefined
  const next = new URL(url)
  next.searchParams.set(options.param ?? "cursor", String(value))
  return next.toString()
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options<A, I> {
  /** The first page. */
  readonly url: string
  readonly schema: Schema.Schema<A, I, never>
  /** Node name in the Landscape. Default `"source"`. */
  readonly name?: string
  /** The records of a page. Default: the page if it is an array, else its `data`, `items` or `results` array. */
  readonly records?: (page: unknown) => ReadonlyArray<unknown>
  /** How to reach the next page. Default `nextLink("next")`. */
  readonly paging?: Paging
  /** Upper bound on pages read (guards against a cycle of links). Default 10 000. */
  readonly maxPages?: number
  /** Options of the audited client (redaction, body cap, time-out per page). */
  readonly client?: AuditedHttpClient.Options
}

const defaultRecords = (page: unknown): ReadonlyArray<unknown> => {
  if (Array.isArray(page)) return page
  for (const name of ["data", "items", "results"]) {
    const value = field(page, name)
    if (Array.isArray(value)) return value
  }
  return []
}

/**
 * Builds the source. Requires an `HttpClient` (e.g. `NodeHttpClient.layerUndici`); `CallScope`,
 * `Landscape` and `Telemetry` are provided by the engine.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  options: Options<A, I>
): Source.Source<A, HttpClient.HttpClient | CallScope | Landscape | Telemetry> => {
  const name = options.name ?? "source"
  const paging = options.paging ?? nextLink()
  const recordsOf = options.records ?? defaultRecords
  const maxPages = options.maxPages ?? 10_000
  const fail = (message: string, cause?: unknown) => new SourceError({ source: name, message, ...(cause === undefined ? {} : { cause }) })

  const records = Stream.unwrap(
    Effect.map(AuditedHttpClient.make(options.client), (client) =>
      Stream.paginateChunkEffect({ url: options.url, page: 1 }, ({ page, url }) =>
        Effect.gen(function* () {
          if (page > maxPages) return yield* fail(`more than ${maxPages} pages`)
          const response = yield* Effect.mapError(client.get(url), (e) => fail(`page ${page}: ${e._tag} (${e.reason})`, e))
          if (response.status >= 400) return yield* fail(`page ${page}: HTTP ${response.status}`)
          const body = yield* Effect.mapError(response.json, (e) => fail(`page ${page} is not JSON`, e))
          const items = recordsOf(body).map((raw): SourceRecord => ({ raw }))
          const next = paging(body, url)
          return [Chunk.fromIterable(items), next === undefined ? Option.none() : Option.some({ url: next, page: page + 1 })] as const
        })
      )
    )
  )
  return Source.make({
    name,
    config: { format: "http-json", url: Redaction.make(options.client?.redaction).url(options.url, new Set()), paging: options.paging === undefined ? "next" : "custom" },
    operation: "http.read",
    records,
    schema: options.schema
  })
}
