/**
 * `sightline resume <runId|latest> --job <module>`: continues an interrupted or failed run with the
 * job (`Job.make`) that `<module>` exports, as its default export or as `job`.
 *
 * The module is loaded with Node's own `import()` (the command's bundle cannot import: `bin/sightline.mjs`
 * hands it the function), TypeScript through tsx resolved from the module's own project (what
 * `node --import tsx` loads). The run goes on in the module's copy of Sightline; Ctrl-C (SIGINT or
 * SIGTERM) aborts it, waits until it is recorded `interrupted`, and exits 130 or 143.
 *
 * Exit codes: 0 completed; 1 the run failed or could not be resumed (`ResumeError`: the reason and
 * each change on its own line); 2 a bad argument, a module that is missing, exports no job, or is
 * TypeScript without tsx.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Console, Effect } from "effect"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type * as Job from "../Job.js"
import { UsageError } from "./context.js"
import { block, json } from "./render.js"

/** Node's `import()`, as `bin/sightline.mjs` hands it over (the bundle runs in a `vm.Script`, which has none). */
const importer: (url: string) => Promise<Record<string, unknown>> =
  (globalThis as { readonly [key: symbol]: unknown })[Symbol.for("sightline/cli/import")] as ((url: string) => Promise<Record<string, unknown>>) | undefined ??
    ((url) => import(url))

const typescript = /\.[cm]?tsx?$/

/**
 * `Job.isJob`, without importing the engine into the command's bundle (whose size is its start-up
 * time): a job carries `Job.TypeId`, the registered symbol `sightline/Job`.
 */
const isJob = (u: unknown): u is Job.Job =>
  typeof u === "object" && u !== null && Symbol.for("sightline/Job") in u && typeof (u as { readonly resume?: unknown }).resume === "function"

/** Registers tsx (its `--import` entry) from the project of `path`; a usage error when it is not installed there. */
const registerTsx = (path: string) =>
  Effect.tryPromise({
    try: () => importer(pathToFileURL(createRequire(path).resolve("tsx")).href),
    catch: () =>
      new UsageError({
        message: `${path} is TypeScript, and tsx is not installed in its project: npm install --save-dev tsx, or give the compiled JavaScript`
      })
  })

/** The job that the module at `path` exports (default, or `job`). */
export const loadJob = (path: string): Effect.Effect<Job.Job, UsageError> =>
  Effect.gen(function* () {
    const file = resolve(path)
    if (!existsSync(file)) return yield* new UsageError({ message: `no job module at ${path}` })
    if (typescript.test(file)) yield* registerTsx(file)
    const module = yield* Effect.tryPromise({
      try: () => importer(pathToFileURL(file).href),
      catch: (e) => new UsageError({ message: `cannot load ${path}: ${e instanceof Error ? e.message : String(e)}` })
    })
    const job = [module["default"], module["job"]].find(isJob)
    if (job === undefined) {
      return yield* new UsageError({ message: `${path} exports no job: export default Job.make({ pipeline, layer }) (see Job.make)` })
    }
    return job
  })

/**
 * Resumes through `job`, and on interruption aborts it and waits for its outcome (the run recorded
 * `interrupted` and the job's layers closed) before the command's fiber ends.
 */
const resumeWith = (job: Job.Job, runId: string) =>
  Effect.async<Job.Outcome>((done) => {
    const controller = new AbortController()
    const outcome = job.resume(runId, { signal: controller.signal })
    void outcome.then((o) => done(Effect.succeed(o)))
    return Effect.promise(() => {
      controller.abort()
      return outcome
    }).pipe(Effect.flatMap((o) => o._tag === "interrupted" ? Console.error(interruptedText(o.runId)) : Effect.void))
  })

const interruptedText = (runId: string | undefined) =>
  `sightline: run ${runId ?? "?"} interrupted again; it is recorded as such and can be resumed again (sightline resume ${runId ?? "<runId>"} --job …)`

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

const completedText = (s: Extract<Job.Outcome, { readonly _tag: "completed" }>["summary"]) =>
  [
    `Run ${s.runId} of pipeline "${s.pipeline}": completed (resumed, attempt ${s.attempt})`,
    block([
      ["rows read", `${fmt(s.rowsRead)} in ${fmt(s.durationMs)} ms (all attempts)`],
      ...Object.entries(s.rowsPerSink).map(([sink, n]): readonly [string, number] => [sink, n]),
      ["quarantined", s.quarantined]
    ]).replace(/^/gm, "  ")
  ].join("\n")

const failedText = (o: Extract<Job.Outcome, { readonly _tag: "failed" }>) =>
  [o.error.message, ...(o.error.changes ?? []).map((c) => `  ${c}`)].join("\n")

export const resume = Command.make("resume", {
  json: Options.boolean("json").pipe(Options.withDescription("print the outcome as JSON")),
  job: Options.file("job", { exists: "either" }).pipe(
    Options.withDescription("the module exporting the pipeline's job (export default Job.make({ pipeline, layer })); TypeScript through tsx")
  ),
  run: Args.text({ name: "runId|latest" }).pipe(Args.withDescription("a run id, or latest: the job's most recent interrupted or failed run"))
}, (o) =>
  Effect.gen(function* () {
    const job = yield* loadJob(o.job)
    const outcome = yield* resumeWith(job, o.run)
    if (o.json) yield* Console.log(json(outcome))
    if (outcome._tag === "completed") {
      if (!o.json) yield* Console.log(completedText(outcome.summary))
      return
    }
    if (outcome._tag === "failed") {
      if (!o.json) yield* Console.error(`sightline: ${failedText(outcome)}`)
      return yield* Effect.sync(() => void (process.exitCode = 1))
    }
    yield* Console.error(interruptedText(outcome.runId))
    yield* Effect.sync(() => void (process.exitCode = 130))
  })).pipe(Command.withDescription("continue an interrupted or failed run from its last checkpoint, with the job (pipeline and layer) its module exports"))
