/**
 * Why a row could not go on, in two forms: `reason`, one short line for people (the quarantine
 * sink, events, `runs.error`), and `detail`, the whole story as JSON for `node_states.error_json`.
 *
 * A `Schema` parse error's tree rendering repeats the schema's signature (about 945 characters for
 * the flights row); the reason is the first issue's field path and message instead, with the
 * number of further issues, and the detail keeps every issue (`ParseResult.ArrayFormatter`).
 *
 * @internal
 */
import { Cause, Option, ParseResult } from "effect"

export interface RowFailure {
  /** One line, at most ~200 characters: field path and message. */
  readonly reason: string
  /** JSON-compatible detail: `{ kind, … }`. */
  readonly detail: unknown
}

const maxReason = 200

/** One line of at most `maxReason` characters; keeps the end of the text (`…, actual "x"`), which usually says what was wrong. */
export const oneLine = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length <= maxReason ? line : `${line.slice(0, maxReason - 61)} … ${line.slice(-60)}`
}

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0 ? "row" : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".").replace(/\.\[/g, "[")

/** A decoding failure of a source row. */
export const fromParseError = (error: ParseResult.ParseError): RowFailure => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : ""
  return {
    reason: first === undefined ? oneLine(error.message) : oneLine(`${pathText(first.path)}: ${first.message}`) + more,
    detail: { kind: "decode", issues: issues.map((i) => ({ path: i.path.map(String), message: i.message, tag: i._tag })) }
  }
}

/** A failure or defect of a step's Effect: `<Tag>: <message>` for errors, the value otherwise. */
export const fromCause = (cause: Cause.Cause<unknown>): RowFailure => {
  const failure = Cause.failureOption(cause)
  const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  return fromError(error, Option.isSome(failure) ? "failure" : "defect")
}

/** A thrown or failed value as a row failure. */
export const fromError = (error: unknown, kind: string): RowFailure => {
  if (typeof error === "object" && error !== null && "message" in error) {
    const e = error as { readonly _tag?: unknown; readonly name?: unknown; readonly message?: unknown }
    const tag = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
    const message = String(e.message)
    return { reason: oneLine(`${tag}: ${message}`), detail: { kind, tag, message } }
  }
  return { reason: oneLine(String(error)), detail: { kind, message: String(error) } }
}

/** A failure whose reason the engine wrote itself. */
export const make = (kind: string, reason: string, extra: Readonly<Record<string, unknown>> = {}): RowFailure => ({
  reason: oneLine(reason),
  detail: { kind, message: reason, ...extra }
})
