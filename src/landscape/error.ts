/**
 * `LandscapeError`: the one error of every Landscape operation, write or read.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { describeError } from "../internal/describe.js"

/**
 * The Landscape operations an error can come from: the layer's own (`open`, `migrate`,
 * `recoverStaleRuns`), the engine's writes, a distributed run's partitions (`partitions`; and
 * `partitionLease`: the lease of a partition was lost, it was taken over), and the read side
 * (queries, integrity, retention).
 *
 * @since 0.1.0
 */
export const Operation = Schema.Literal(
  "open",
  "migrate",
  "recoverStaleRuns",
  "beginRun",
  "heartbeat",
  "finishRun",
  "registerNodes",
  "recordBatch",
  "beginOperation",
  "completeOperation",
  "recordCall",
  "partitions",
  "partitionLease",
  "runCheckpoint",
  "resumeRun",
  "getRun",
  "listRuns",
  "llmUsage",
  "runs",
  "runSummary",
  "explain",
  "trace",
  "findRows",
  "query",
  "verify",
  "export",
  "verifyExport",
  "purge"
)

/** @since 0.1.0 */
export type Operation = typeof Operation.Type

/**
 * A Landscape read or write failed. `operation` names the Landscape operation; `message` is one
 * line naming the file or record where that helps; `cause` holds the driver's error.
 *
 * @since 0.1.0
 * @category errors
 */
export class LandscapeError extends Schema.TaggedError<LandscapeError>()("LandscapeError", {
  operation: Operation,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/** Wraps any failure as a `LandscapeError` of `operation` (a `LandscapeError` passes through). @internal */
export const toLandscapeError = (operation: Operation, context?: string) => (error: unknown): LandscapeError =>
  error instanceof LandscapeError
    ? error
    : new LandscapeError({ operation, message: `Landscape ${operation}${context ? ` (${context})` : ""} failed: ${describeError(error)}`, cause: error })

/** A `LandscapeError` of `operation` with its own message (no driver cause). @internal */
export const landscapeError = (operation: Operation, message: string): LandscapeError =>
  new LandscapeError({ operation, message: `Landscape ${operation} failed: ${message}` })

/** `true` for the refusal of a partition's lease that another worker took over (see `DistributedRun`). @internal */
export const isLeaseLost = (e: unknown): e is LandscapeError => e instanceof LandscapeError && e.operation === "partitionLease"
