/**
 * The engine's side of `CallScope.recordCall`: a service the engine provides beside `CallScope`
 * wherever plugin code runs (a step's Effect, a source's stream, a sink's writer). It writes the
 * call (in a node state: with the row's records so far, see `journal.ts`), reports a Landscape
 * failure to the run's fatal channel before anything else can swallow it, and routes the event:
 * journaled with the row's events until the row is committed, emitted straight away otherwise.
 *
 * Keeping these hooks here leaves the public `CallScope` with ids only.
 *
 * @internal
 */
import { Context, Effect } from "effect"
import { type CallRecord, LandscapeError, type LandscapeService } from "../../Landscape.js"
import type { TelemetryService } from "../../Telemetry.js"
import type { ExternalCallCompleted } from "../../TelemetryEvent.js"
import type { Fatal } from "./fatal.js"
import type { RowJournal } from "./journal.js"

export interface CallRecorderService {
  /** Records `call`, then emits or journals `event`. Fails with the `LandscapeError` after reporting it. */
  readonly record: (call: CallRecord, event: ExternalCallCompleted) => Effect.Effect<void, LandscapeError>
}

export class CallRecorder extends Context.Tag("sightline/internal/CallRecorder")<CallRecorder, CallRecorderService>() {}

export interface RecorderContext {
  readonly landscape: LandscapeService
  readonly telemetry: TelemetryService
  readonly fatal: Fatal
  /** Rows flushed by a call and not committed yet: closed by the run if it stops before their commit. */
  readonly flushed: Set<RowJournal>
}

const asRecordCall = (e: LandscapeError) =>
  e.operation === "recordCall" ? e : new LandscapeError({ operation: "recordCall", message: e.message.replace(/^Landscape \w+/, "Landscape recordCall"), cause: e.cause })

/** For a call made in an operation (a source or a sink): written on its own, emitted at once. */
export const forOperation = (ctx: RecorderContext): CallRecorderService => ({
  record: (call, event) =>
    ctx.fatal.track(Effect.mapError(ctx.landscape.recordCall(call), asRecordCall)).pipe(
      Effect.zipRight(ctx.telemetry.emit(event))
    )
})

/** For a call made in a node state: written with the row's records, its event kept with the row's. */
export const forState = (ctx: RecorderContext, journal: RowJournal): CallRecorderService => ({
  record: (call, event) =>
    Effect.suspend(() => {
      if (!journal.committed) ctx.flushed.add(journal)
      return ctx.fatal.track(Effect.mapError(ctx.landscape.recordBatch(journal.flushWith(call)), asRecordCall))
    }).pipe(
      Effect.zipRight(Effect.suspend(() => {
        if (!journal.committed && journal.events !== undefined) {
          journal.events.push(event)
          return Effect.void
        }
        return ctx.telemetry.emit(event)
      }))
    )
})
