/**
 * The row processor: takes one source record through decoding and every step (transforms and
 * gates), journaling each record and each event in a `RowJournal`. The orchestrator writes the
 * journals to the Landscape a batch at a time and emits their events after the commit.
 *
 * @internal
 */
import { Cause, Effect, Either, Exit, Option } from "effect"
import { CallScope, EventJournal, FatalSink, RecordWithJournal, type StateScope } from "../CallScope.js"
import { LandscapeError, type LandscapeService } from "../Landscape.js"
import type { QuarantinedRow, Source, SourceRecord, Step } from "../Pipeline.js"
import { currentTrace } from "../TelemetryEvent.js"
import { hashCanonical } from "./hashing.js"
import { newId } from "./ids.js"
import { RowJournal } from "./journal.js"

/** Where a processed row goes. */
export type Outcome =
  | { readonly _tag: "Routed"; readonly sink: string; readonly value: unknown; readonly rowId: string; readonly tokenId: string }
  | { readonly _tag: "Quarantined"; readonly row: QuarantinedRow }

export interface Processed {
  readonly outcome: Outcome
  readonly journal: RowJournal
}

export interface RunContext {
  readonly runId: string
  readonly landscape: LandscapeService
  readonly source: Source<unknown, unknown>
  readonly sourceNodeId: string
  readonly steps: ReadonlyArray<{ readonly step: Step; readonly nodeId: string }>
  readonly sinkNodeIds: ReadonlyMap<string, string>
  readonly defaultSink: string | undefined
  /** The first Landscape failure reported through a `CallScope`, if any: fatal for the run. */
  readonly fatal: { error: LandscapeError | undefined }
}

/** A readable reason for a step failure, and its JSON form for `node_states.error_json`. */
const describeFailure = (cause: Cause.Cause<unknown>): { readonly reason: string; readonly json: unknown } => {
  const failure = Cause.failureOption(cause)
  const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const kind = Option.isSome(failure) ? "failure" : "defect"
  if (typeof error === "object" && error !== null && "message" in error) {
    const e = error as { readonly _tag?: unknown; readonly name?: unknown; readonly message?: unknown }
    const tag = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
    const message = String(e.message)
    return { reason: `${tag}: ${message}`, json: { kind, tag, message } }
  }
  return { reason: String(error), json: { kind, message: String(error) } }
}

/** A `LandscapeError` anywhere in the cause (failure or defect): never a row failure. */
const landscapeErrorIn = (cause: Cause.Cause<unknown>): Option.Option<LandscapeError> =>
  Cause.find(cause, (c) => {
    const error = c._tag === "Fail" ? c.error : c._tag === "Die" ? c.defect : undefined
    return error instanceof LandscapeError ? Option.some(error) : Option.none()
  })

interface RowIds {
  readonly rowId: string
  readonly tokenId: string
  readonly journal: RowJournal
  readonly quarantine: (node: string, reason: string) => Outcome
}

type StepResult =
  | { readonly _tag: "Next"; readonly value: unknown; readonly hash: string }
  | { readonly _tag: "Route"; readonly sink: string }
  | { readonly _tag: "Done"; readonly outcome: Outcome }

/** One transform or gate for one token: node state begun, work run, node state completed, event journaled. */
const runStep = (
  ctx: RunContext,
  row: RowIds,
  index: number,
  value: unknown,
  inputHash: string
): Effect.Effect<StepResult, LandscapeError, unknown> =>
  Effect.gen(function* () {
    const { runId } = ctx
    const { journal, rowId, tokenId } = row
    const { nodeId, step } = ctx.steps[index]!
    const stateId = newId()
    const t0 = performance.now()
    journal.beginState({ stateId, runId, tokenId, nodeId, stepIndex: index + 1, inputHash, startedAt: Date.now() })
    const scope: StateScope = {
      _tag: "StateScope",
      runId,
      nodeId,
      rowId,
      tokenId,
      stateId,
      [FatalSink]: (error) => void (ctx.fatal.error ??= error),
      [RecordWithJournal]: (call) => journal.flushWith(ctx.landscape, call),
      [EventJournal]: journal
    }
    const work: Effect.Effect<unknown, unknown, unknown> = step._tag === "Transform" ? step.apply(value) : step.evaluate(value)
    const exit = (yield* Effect.exit(Effect.provideService(work, CallScope, scope))) as Exit.Exit<unknown, unknown>
    if (ctx.fatal.error !== undefined) return yield* Effect.fail(ctx.fatal.error)
    const durationMs = performance.now() - t0
    const base = { timestamp: Date.now(), runId, ...(yield* currentTrace), rowId, tokenId, nodeId, stateId }
    const fail = (error: unknown, reason: string): StepResult => {
      journal.completeState({ stateId, status: "failed", error, completedAt: Date.now(), durationMs })
      if (step._tag === "Transform") {
        journal.emit({ _tag: "TransformCompleted", ...base, status: "failed", durationMs, inputHash, error: reason })
      }
      return { _tag: "Done", outcome: row.quarantine(step.name, reason) }
    }

    if (Exit.isFailure(exit)) {
      const fatal = landscapeErrorIn(exit.cause)
      if (Option.isSome(fatal)) return yield* Effect.fail(fatal.value)
      if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      const { json, reason } = describeFailure(exit.cause)
      return fail(json, reason)
    }

    if (step._tag === "Transform") {
      let outputHash: string
      try {
        outputHash = hashCanonical(exit.value)
      } catch (e) {
        const reason = `output is not JSON-compatible: ${(e as Error).message}`
        return fail({ kind: "output", message: reason }, reason)
      }
      journal.completeState({ stateId, status: "completed", outputHash, completedAt: Date.now(), durationMs })
      journal.emit({ _tag: "TransformCompleted", ...base, status: "completed", durationMs, inputHash, outputHash })
      const next: StepResult = { _tag: "Next", value: exit.value, hash: outputHash }
      return next
    }

    const destination = String(exit.value)
    const routesTo = destination === "continue" ? undefined : ctx.sinkNodeIds.get(destination)
    if (destination !== "continue" && routesTo === undefined) {
      const reason = `gate returned "${destination}", which is not a sink of this pipeline`
      return fail({ kind: "route", message: reason }, reason)
    }
    journal.completeState({
      stateId,
      status: "completed",
      outputHash: hashCanonical({ destination }),
      completedAt: Date.now(),
      durationMs
    })
    journal.route({
      routingId: newId(),
      runId,
      stateId,
      tokenId,
      destination,
      ...(routesTo === undefined ? {} : { destinationNodeId: routesTo }),
      createdAt: Date.now()
    })
    journal.emit({ _tag: "GateEvaluated", ...base, destination })
    const result: StepResult = destination === "continue"
      ? { _tag: "Next", value, hash: inputHash }
      : { _tag: "Route", sink: destination }
    return result
  }).pipe(
    Effect.withSpan(`sightline.${ctx.steps[index]!.step._tag === "Transform" ? "transform" : "gate"} ${ctx.steps[index]!.step.name}`, {
      attributes: { "sightline.node.id": ctx.steps[index]!.nodeId },
      captureStackTrace: false // per row and step: a stack trace each would cost more than the step
    })
  )

/** Processes one source record into its outcome and journal. Fails only with a fatal `LandscapeError`. */
export const processRow = (ctx: RunContext, record: SourceRecord, rowIndex: number) =>
  Effect.gen(function* () {
    const { runId } = ctx
    const journal = new RowJournal()
    const rowId = newId()
    const tokenId = newId()
    const dataHash = hashCanonical(record.raw)
    const createdAt = Date.now()
    journal.record({ rowId, tokenId, runId, sourceNodeId: ctx.sourceNodeId, rowIndex, data: record.raw, dataHash, createdAt })
    journal.emit({
      _tag: "RowCreated",
      timestamp: createdAt,
      runId,
      ...(yield* currentTrace),
      rowId,
      tokenId,
      nodeId: ctx.sourceNodeId,
      rowIndex,
      contentHash: dataHash
    })
    const row: RowIds = {
      rowId,
      tokenId,
      journal,
      quarantine: (node, reason) => ({
        _tag: "Quarantined",
        row: { runId, rowId, tokenId, rowIndex, node, reason, data: record.raw }
      })
    }
    const done = (outcome: Outcome): Processed => ({ outcome, journal })

    // A parse or decode failure: a failed node state on the source node, then quarantine.
    const decoded = record.error !== undefined ? Either.left(record.error) : ctx.source.decode(record.raw)
    if (Either.isLeft(decoded)) {
      const stateId = newId()
      journal.beginState({ stateId, runId, tokenId, nodeId: ctx.sourceNodeId, stepIndex: 0, inputHash: dataHash, startedAt: createdAt })
      journal.completeState({
        stateId,
        status: "failed",
        error: { kind: record.error !== undefined ? "parse" : "decode", message: decoded.left },
        completedAt: createdAt,
        durationMs: 0
      })
      return done(row.quarantine(ctx.source.name, decoded.left))
    }

    let value: unknown = decoded.right
    let hash = hashCanonical(value)
    for (let i = 0; i < ctx.steps.length; i++) {
      const result = yield* runStep(ctx, row, i, value, hash)
      if (result._tag === "Done") return done(result.outcome)
      if (result._tag === "Route") return done({ _tag: "Routed", sink: result.sink, value, rowId, tokenId })
      value = result.value
      hash = result.hash
    }
    if (ctx.defaultSink === undefined) {
      const last = ctx.steps.at(-1)?.step.name ?? ctx.source.name
      return done(row.quarantine(last, "no gate routed the row and the pipeline has no default sink"))
    }
    return done({ _tag: "Routed", sink: ctx.defaultSink, value, rowId, tokenId })
  }).pipe(Effect.withSpan("sightline.row", { attributes: { "sightline.row.index": rowIndex }, captureStackTrace: false }))
