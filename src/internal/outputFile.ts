/**
 * A sink's output file, written so that only a completed run replaces the previous output
 * (DESIGN.md invariant 9: what a sink holds matches what the Landscape says was completed).
 *
 * The run writes `<name>.partial-<runId><ext>` beside the target. `commit` (the run completed)
 * flushes it to disk and renames it over the target (or, in append mode, appends it to the target
 * and removes it); `abort` (the run failed or was interrupted) closes it and leaves it where it is,
 * so the previous output is untouched and this run's partial output stays beside it under a name
 * that says what it is and which run wrote it. Both return the details the engine records in the
 * sink's operation.
 *
 * @internal
 */
import { Effect, type Scope } from "effect"
import { createReadStream, createWriteStream } from "node:fs"
import { mkdir, open, rename, stat, unlink } from "node:fs/promises"
import { basename, dirname, extname, join } from "node:path"
import { pipeline } from "node:stream/promises"

export interface OutputFile {
  /** Appends text (one batch) to the partial file. */
  readonly append: (text: string) => Effect.Effect<void, OutputFileError>
  /** Bytes appended so far. */
  readonly bytes: () => number
  /** `true` when the target already had content that an append-mode run adds to. */
  readonly appendingToExisting: boolean
  readonly commit: Effect.Effect<Readonly<Record<string, unknown>>, OutputFileError>
  readonly abort: Effect.Effect<Readonly<Record<string, unknown>>>
}

/** A file operation failed: what was being done, on which path, and the system error. */
export class OutputFileError {
  readonly _tag = "OutputFileError"
  constructor(readonly message: string, readonly cause: unknown) {}
}

/** `out/on_time.csv`, run `0193…` → `out/on_time.partial-0193….csv`. */
export const partialPathOf = (path: string, runId: string): string => {
  const ext = extname(path)
  return join(dirname(path), `${basename(path, ext)}.partial-${runId}${ext}`)
}

const attempt = <A>(message: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new OutputFileError(`${message}: ${(cause as Error).message ?? String(cause)}`, cause) })

/**
 * Opens the partial file of `path` for the run `runId`, in the current scope (closed with it).
 * `header(appendingToExisting)` is written first (e.g. a CSV header, unless appending to a file
 * that has one).
 */
export const openOutput = (
  path: string,
  options: { readonly runId: string; readonly append: boolean; readonly header?: (appendingToExisting: boolean) => string }
): Effect.Effect<OutputFile, OutputFileError, Scope.Scope> =>
  Effect.gen(function* () {
    const partialPath = partialPathOf(path, options.runId)
    yield* attempt(`cannot create the folder of ${path}`, () => mkdir(dirname(path), { recursive: true }))
    const existing = options.append ? yield* Effect.promise(() => stat(path).then((s) => s.size, () => 0)) : 0
    const appendingToExisting = existing > 0
    let closed = false
    const handle = yield* Effect.acquireRelease(
      attempt(`cannot open ${partialPath}`, () => open(partialPath, "w")),
      (h) => (closed ? Effect.void : Effect.promise(() => h.close().catch(() => undefined)))
    )
    const close = Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return attempt(`cannot close ${partialPath}`, () => handle.close())
    })
    let bytes = 0
    const append = (text: string) =>
      Effect.suspend(() => {
        if (text.length === 0) return Effect.void
        bytes += Buffer.byteLength(text)
        return attempt(`cannot write ${partialPath}`, () => handle.appendFile(text))
      })
    const header = options.header?.(appendingToExisting) ?? ""
    yield* append(header)
    const commit = Effect.gen(function* () {
      yield* attempt(`cannot flush ${partialPath}`, () => handle.datasync())
      yield* close
      if (options.append) {
        yield* attempt(`cannot append ${partialPath} to ${path}`, () =>
          pipeline(createReadStream(partialPath), createWriteStream(path, { flags: "a" })))
        yield* attempt(`cannot remove ${partialPath}`, () => unlink(partialPath))
      } else {
        yield* attempt(`cannot move ${partialPath} to ${path}`, () => rename(partialPath, path))
      }
      return { path, bytes, ...(options.append ? { appended: true } : {}) }
    })
    const abort = close.pipe(
      Effect.ignore,
      Effect.as({ path, partialPath, bytes, kept: "the target was left as it was; this run's partial output is partialPath" })
    )
    return { append, bytes: () => bytes, appendingToExisting, commit, abort }
  })
