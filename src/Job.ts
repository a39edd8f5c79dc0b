/**
 * A job: a pipeline with everything it runs with (the Landscape, telemetry, the services its steps
 * require), as one value a module exports, so that the `sightline` command can continue one of its
 * runs: `npx sightline resume <runId|latest> --job <module>`.
 *
 * A pipeline is code, not configuration: the command cannot rebuild it from the Landscape. The
 * module that defines the job is the one the command imports (TypeScript through tsx), and the job
 * resumes with the copy of Sightline and Effect that module loaded, so the command's own bundled
 * copy never runs the user's code. Across that boundary a job answers with plain data
 * ({@link Outcome}), never with an `Effect` or an error class.
 *
 * @example
 * // examples/flights/job.ts
 * export default Job.make({ pipeline, layer: Layer.mergeAll(LandscapeLive, TelemetryLive) })
 *
 * // then, after an interrupted run:
 * // npx sightline resume latest --job examples/flights/job.ts
 *
 * @since 0.5.0
 */
import { Cause, Data, Effect, Exit, type Layer, Option } from "effect"
import type { CallScope } from "./CallScope.js"
import { Landscape } from "./Landscape.js"
import * as Orchestrator from "./Orchestrator.js"
import type { Pipeline } from "./Pipeline.js"
import type { Telemetry } from "./Telemetry.js"

/**
 * Marks a job, as a registered symbol so that it is recognised across copies of this package (the
 * command's bundle and the module's `node_modules`).
 *
 * @since 0.5.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("sightline/Job")

/**
 * @since 0.5.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * How {@link Job.resume} ended, as plain data:
 *
 * - `completed`: the run's summary (`Orchestrator.RunSummary`);
 * - `interrupted`: the signal aborted it; the run is recorded `interrupted` and can be resumed again;
 * - `failed`: `error` is the failure's tag (`ResumeError`, `LandscapeError`, `SourceError`, …, or
 *   `Defect`), its one-line message, and for `ResumeError` its reason and the pipeline's changes.
 *
 * @since 0.5.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "completed"; readonly summary: Orchestrator.RunSummary }
  | { readonly _tag: "interrupted"; readonly runId: string | undefined }
  | {
    readonly _tag: "failed"
    readonly runId: string | undefined
    readonly error: {
      readonly tag: string
      readonly message: string
      readonly reason?: string
      readonly changes?: ReadonlyArray<string>
    }
  }

/**
 * @since 0.5.0
 * @category models
 */
export interface ResumeOptions {
  /** Aborting it interrupts the run: it is recorded `interrupted` and the layers' scopes close (telemetry drains). */
  readonly signal?: AbortSignal
}

/**
 * A pipeline and its layer, resumable by the command line.
 *
 * @since 0.5.0
 * @category models
 */
export interface Job {
  readonly [TypeId]: TypeId
  /**
   * Continues the run `runId` (or `"latest"`: the most recently started `interrupted` or `failed` run
   * of this job's pipeline) with `Orchestrator.resume`, in this job's layer. Never rejects: every
   * ending is an {@link Outcome}.
   */
  readonly resume: (runId: string, options?: ResumeOptions) => Promise<Outcome>
}

/**
 * Makes a job of a pipeline (or an effect building it, e.g. from `Config`) and a layer providing
 * the Landscape, telemetry and what the pipeline requires. A layer that misses any of them does not
 * compile. `options` are given to every resume (concurrency, batch size, progress).
 *
 * @since 0.5.0
 * @category constructors
 */
export const make = <R, E = never>(job: {
  readonly pipeline: Pipeline<R> | Effect.Effect<Pipeline<R>, E>
  readonly layer: Layer.Layer<Landscape | Telemetry | Exclude<R, CallScope>, E>
  readonly options?: Orchestrator.ResumeOptions
}): Job => ({
  [TypeId]: TypeId,
  resume: (runId, options) => {
    let resolved: string | undefined = runId === "latest" ? undefined : runId
    const program = Effect.gen(function* () {
      const pipeline = Effect.isEffect(job.pipeline) ? yield* job.pipeline : job.pipeline
      resolved = runId === "latest" ? yield* latest(pipeline.name) : runId
      return yield* Orchestrator.resume(pipeline, resolved, job.options)
    }).pipe(Effect.provide(job.layer))
    return Effect.runPromiseExit(program, options?.signal === undefined ? {} : { signal: options.signal }).then(
      (exit): Outcome =>
        Exit.isSuccess(exit)
          ? { _tag: "completed", summary: exit.value }
          : Cause.isInterruptedOnly(exit.cause)
          ? { _tag: "interrupted", runId: resolved }
          : { _tag: "failed", runId: resolved, error: describe(exit.cause) }
    )
  }
})

/**
 * Whether `u` is a job (made by {@link make}, by any copy of this package).
 *
 * @since 0.5.0
 * @category guards
 */
export const isJob = (u: unknown): u is Job =>
  typeof u === "object" && u !== null && TypeId in u && typeof (u as { readonly resume?: unknown }).resume === "function"

/** Why `latest` names no run. */
class NoRunToResume extends Data.TaggedError("NoRunToResume")<{ readonly message: string }> {}

/** The most recently started `interrupted` or `failed` run of `pipeline`. */
const latest = (pipeline: string) =>
  Effect.flatMap(Landscape, (l) => l.runs({ pipeline, status: ["interrupted", "failed"], limit: 1 })).pipe(
    Effect.flatMap(([run]) =>
      run === undefined
        ? Effect.fail(new NoRunToResume({ message: `no interrupted or failed run of pipeline "${pipeline}" in this Landscape` }))
        : Effect.succeed(run.runId)
    )
  )

/** A failure as plain data: its tag, first line, and a `ResumeError`'s reason and changes. */
const describe = <E>(cause: Cause.Cause<E>): Extract<Outcome, { readonly _tag: "failed" }>["error"] =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => ({ tag: "Defect", message: firstLine(Cause.squash(cause)) }),
    onSome: (error) => {
      const e = error as { readonly _tag?: unknown; readonly reason?: unknown; readonly changes?: unknown }
      return {
        tag: typeof e._tag === "string" ? e._tag : "Error",
        message: firstLine(error),
        ...(typeof e.reason === "string" ? { reason: e.reason } : {}),
        ...(Array.isArray(e.changes) ? { changes: e.changes.map(String) } : {})
      }
    }
  })

const firstLine = (u: unknown): string => (u instanceof Error ? u.message : String(u)).split("\n")[0] ?? ""
