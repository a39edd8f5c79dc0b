/**
 * Worker threads whose code is a CommonJS string (`eval`): no file to resolve, the same under tsx
 * in `src/`, in `dist/` and in the CLI's bundle. Used by the SQLite WAL checkpointer; each worker
 * stops when it receives `"stop"`.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"

/** The absolute path of package `name` as this package resolves it, for a worker to `require`. */
export const resolvePackage = (name: string): string => createRequire(import.meta.url).resolve(name)

/** How long a stopping worker may take to finish its work in flight before it is terminated. */
const stopTimeout = "5 seconds"

/**
 * Starts a worker running `source` with `workerData`, unreferenced (it never keeps the process
 * alive), in the current scope. Closing the scope posts `"stop"` and waits for the worker to exit,
 * at most 5 seconds, then terminates it; a worker that has already exited is left as it is.
 */
export const start = (source: string, workerData: unknown): Effect.Effect<Worker, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const worker = new Worker(source, { eval: true, workerData })
      worker.unref()
      let exited = false
      worker.once("exit", () => (exited = true))
      return { worker, exited: () => exited }
    }),
    ({ exited, worker }) =>
      exited()
        ? Effect.void
        : Effect.async<void>((resume) => {
          worker.once("exit", () => resume(Effect.void))
          worker.postMessage("stop")
        }).pipe(
          Effect.timeout(stopTimeout),
          Effect.catchAll(() => Effect.promise(() => worker.terminate())),
          Effect.asVoid
        )
  ).pipe(Effect.map(({ worker }) => worker))
