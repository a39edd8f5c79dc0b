/**
 * The row processor: takes one source record through decoding and every step, recording each
 * step in the Landscape and then emitting its event (DESIGN.md: "The processor records each step
 * in the Landscape, then emits the event").
 *
 * @internal
 */
import { Cause, Effect, Either, Exit, Option } from "effect"
import { CallScope, FatalSink, type StateScope } from "../CallScope.js"
import { type LandscapeError, type LandscapeService } from "../Landscape.js"
import { LandscapeError as LandscapeErrorClass } from "../Landscape.js"
import type { QuarantinedRow, Source, SourceRecord, Step } from "../Pipeline.js"
import type { TelemetryService } from "../Telemetry.js"
import { currentTrace, GateEvaluated, RowCreated, TransformCompleted } from "../TelemetryEvent.js"
import { hashCanonical } from "./hashing.js"

/** Where a processed row goes. */
export type Outcome =
  | { readonly _tag: "Routed"; readonly sink: string; readonly value: unknown; readonly rowId: string; readonly tokenId: string }
  | { readonly _tag: "Quarantined"; readonly row: QuarantinedRow }

export interface RunContext {
  readonly runId: string
  readonly landscape: LandscapeService
  readonly telemetry: TelemetryService
  readonly source: Source<unknown, unknown>
  readonly sourceNodeId: string
  readonly steps: ReadonlyArray<{ readonly step: Step; readonly nodeId: string }>
  readonly sinkNodeIds: ReadonlyMap<string, string>
  readonly defaultSink: string | undefined
  /** The first Landscape failure reported through a `CallScope`, if any: fatal for the run. */
  readonly fatal: { error: LandscapeError | undefined }
}

const noValidation = true as const

/** A readable reason for a step failure, and its JSON form for `node_states.error_json`. */
const describeFailure = (cause: Cause.Cause<unknown>): { readonly reason: string; readonly json: unknown } => {
  const failure = Cause.failureOption(cause)
  const error = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const kind = Option.isSome(failure) ? "failure" : "defect"
  if (error instanceof Error || (typeof error === "object" && error !== null && "message" in error)) {
    const e = error as { readonly _tag?: unknown; readonly name?: unknown; readonly message?: unknown }
    const tag = typeof e._tag === "string" ? e._tag : typeof e.name === "string" ? e.name : "Error"
    const message = String(e.message)
    return { reason: `${tag}: ${message}`, json: { kind, tag, message } }
  }
  return { reason: String(error), json: { kind, message: String(error) } }
}

/** A `LandscapeError` anywhere in the cause (failure or defect): never a row failure. */
const landscapeErrorIn = (cause: Cause.Cause<unknown>): Option.Option<LandscapeError> =>
  Cause.find(cause, (c) =>
    (c._tag === "Fail" && c.error instanceof LandscapeErrorClass) ||
      (c._tag === "Die" && c.defect instanceof LandscapeErrorClass)
      ? Option.some((c._tag === "Fail" ? c.error : c.defect) as LandscapeError)
      : Option.none())


type StepResult =
  | { readonly _tag: "Next"; readonly value: unknown; readonly hash: string }
  | { readonly _tag: "Route"; readonly sink: string }
  | Outcome

/** One transform or gate for one token: node state begun, work run, node state completed, event emitted. */
const runStep = (
  ctx: RunContext,
  row: { readonly rowId: string; readonly tokenId: string; readonly quarantine: (node: string, reason: string) => Outcome },
  i: number,
  value: unknown,
  valueHash: string
): Effect.Effect<StepResult, LandscapeError, unknown> =>
  Effect.gen(function* () {
    const { landscape, telemetry, runId } = ctx
    const { rowId, tokenId, quarantine } = row
    const { nodeId, step } = ctx.steps[i]!
    const stateId = crypto.randomUUID()
    const startedAt = Date.now()
    const t0 = performance.now()
    yield* landscape.beginNodeState({ stateId, runId, tokenId, nodeId, stepIndex: i + 1, inputHash: valueHash, startedAt })
    const scope: StateScope = {
      _tag: "StateScope",
      runId,
      nodeId,
      rowId,
      tokenId,
      stateId,
      [FatalSink]: (error) => void (ctx.fatal.error ??= error)
    }
    const work: Effect.Effect<unknown, unknown, unknown> = step._tag === "Transform"
      ? step.apply(value)
      : step.evaluate(value)
    const exit = yield* Effect.exit(Effect.provideService(work, CallScope, scope)) as Effect.Effect<
      Exit.Exit<unknown, unknown>
    >
    if (ctx.fatal.error !== undefined) return yield* Effect.fail(ctx.fatal.error)
    const durationMs = performance.now() - t0
    const trace = yield* currentTrace

    if (Exit.isFailure(exit)) {
      const fatal = landscapeErrorIn(exit.cause)
      if (Option.isSome(fatal)) return yield* Effect.fail(fatal.value)
      if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      const { json, reason } = describeFailure(exit.cause)
      yield* landscape.completeNodeState({ stateId, status: "failed", error: json, completedAt: Date.now(), durationMs })
      yield* telemetry.emit(
        new TransformCompleted({
          timestamp: Date.now(),
          runId,
          ...trace,
          rowId,
          tokenId,
          nodeId,
          stateId,
          status: "failed",
          durationMs,
          inputHash: valueHash,
          error: reason
        }, noValidation)
      )
      return quarantine(step.name, reason)
    }

    if (step._tag === "Transform") {
      let outputHash: string
      try {
        outputHash = hashCanonical(exit.value)
      } catch (e) {
        const reason = `output is not JSON-compatible: ${(e as Error).message}`
        yield* landscape.completeNodeState({ stateId, status: "failed", error: { kind: "output", message: reason }, completedAt: Date.now(), durationMs })
        return quarantine(step.name, reason)
      }
      yield* landscape.completeNodeState({ stateId, status: "completed", outputHash, completedAt: Date.now(), durationMs })
      yield* telemetry.emit(
        new TransformCompleted({
          timestamp: Date.now(),
          runId,
          ...trace,
          rowId,
          tokenId,
          nodeId,
          stateId,
          status: "completed",
          durationMs,
          inputHash: valueHash,
          outputHash
        }, noValidation)
      )
      return { _tag: "Next", value: exit.value, hash: outputHash } as const
    }

    // Gate
    const destination = String(exit.value)
    const routesTo = destination === "continue" ? undefined : ctx.sinkNodeIds.get(destination)
    if (destination !== "continue" && routesTo === undefined) {
      const reason = `gate returned "${destination}", which is not a sink of this pipeline`
      yield* landscape.completeNodeState({ stateId, status: "failed", error: { kind: "route", message: reason }, completedAt: Date.now(), durationMs })
      return quarantine(step.name, reason)
    }
    yield* landscape.completeNodeState({
      stateId,
      status: "completed",
      outputHash: hashCanonical({ destination }),
      completedAt: Date.now(),
      durationMs
    })
    yield* landscape.recordRouting({
      routingId: crypto.randomUUID(),
      runId,
      stateId,
      tokenId,
      destination,
      ...(routesTo === undefined ? {} : { destinationNodeId: routesTo }),
      createdAt: Date.now()
    })
    yield* telemetry.emit(
      new GateEvaluated({ timestamp: Date.now(), runId, ...trace, rowId, tokenId, nodeId, stateId, destination }, noValidation)
    )
    return destination === "continue"
      ? ({ _tag: "Next", value, hash: valueHash } as const)
      : ({ _tag: "Route", sink: destination } as const)
      })

export const processRow = (ctx: RunContext, record: SourceRecord, rowIndex: number) =>
  Effect.gen(function* () {
    const { landscape, telemetry, runId } = ctx
    const rowId = crypto.randomUUID()
    const tokenId = crypto.randomUUID()
    const dataHash = hashCanonical(record.raw)
    yield* landscape.recordRow({
      rowId,
      tokenId,
      runId,
      sourceNodeId: ctx.sourceNodeId,
      rowIndex,
      data: record.raw,
      dataHash,
      createdAt: Date.now()
    })
    yield* telemetry.emit(
      new RowCreated({
        timestamp: Date.now(),
        runId,
        ...(yield* currentTrace),
        rowId,
        tokenId,
        nodeId: ctx.sourceNodeId,
        rowIndex,
        contentHash: dataHash
      }, noValidation)
    )
    const quarantine = (node: string, reason: string): Outcome => ({
      _tag: "Quarantined",
      row: { runId, rowId, tokenId, rowIndex, node, reason, data: record.raw }
    })

    // Parse or decode failure: a failed node state on the source node, then quarantine.
    const decoded = record.error !== undefined ? Either.left(record.error) : ctx.source.decode(record.raw)
    if (Either.isLeft(decoded)) {
      const now = Date.now()
    const stateId = crypto.randomUUID()
      yield* landscape.beginNodeState({ stateId, runId, tokenId, nodeId: ctx.sourceNodeId, stepIndex: 0, inputHash: dataHash, startedAt: now })
      yield* landscape.completeNodeState({
        stateId,
        status: "failed",
        error: { kind: record.error !== undefined ? "parse" : "decode", message: decoded.left },
        completedAt: now,
        durationMs: 0
      })
      return quarantine(ctx.source.name, decoded.left)
    }

    let value: unknown = decoded.right
    let valueHash = hashCanonical(value)
    for (let i = 0; i < ctx.steps.length; i++) {
      const { nodeId, step } = ctx.steps[i]!
      const result = yield* runStep(ctx, { rowId, tokenId, quarantine }, i, value, valueHash).pipe(
        Effect.withSpan(`sightline.${step._tag === "Transform" ? "transform" : "gate"} ${step.name}`, {
          attributes: { "sightline.node.id": nodeId }
        })
      )
      if (result._tag === "Next") {
        value = result.value
        valueHash = result.hash
        continue
      }
      if (result._tag === "Route") return { _tag: "Routed", sink: result.sink, value, rowId, tokenId } satisfies Outcome
      return result
    }

    if (ctx.defaultSink === undefined) {
      return quarantine(ctx.steps.at(-1)?.step.name ?? ctx.source.name, "no gate routed the row and the pipeline has no default sink")
    }
    return { _tag: "Routed", sink: ctx.defaultSink, value, rowId, tokenId } satisfies Outcome
  }).pipe(Effect.withSpan("sightline.row", { attributes: { "sightline.row.index": rowIndex } }))
