/**
 * A sink's output file, written so that only a completed run replaces the previous output
 * (DESIGN.md invariant 9: what a sink holds matches what the Landscape says was completed).
 *
 * The run writes `<name>.partial-<runId><ext>` beside the target (a resumed run
 * `<name>.partial-<runId>-resume-<n><ext>`, starting from the checkpointed bytes of the one before). `commit` (the run completed)
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
import { copyFile, mkdir, open, rename, stat, truncate, unlink } from "node:fs/promises"
import { basename, dirname, extname, join } from "node:path"
import { pipeline } from "node:stream/promises"

export interface OutputFile {
  /** Where the output goes once committed (a partition's own file in a distributed run). */
  readonly path: string
  /** What a worker taking this output over needs to continue it (see {@link Resume}). */
  readonly checkpoint: () => Resume
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

/**
 * Where an attempt's partial output stands: its file and the bytes in it that a checkpoint covers.
 * A worker continuing a distributed run's partition copies those bytes into its own partial file
 * (never writing the previous attempt's file: its worker may still be alive, only fenced out), and
 * the files of earlier attempts are removed when the output is committed.
 */
export interface Resume {
  readonly partialPath: string
  readonly bytes: number
  /** Partial files of the attempts before, removed on commit. */
  readonly resumedFrom: ReadonlyArray<string>
}

/** `out/on_time.csv`, partition 3 → `out/on_time.part-3.csv`: a distributed run's output of one partition. */
export const partitionPathOf = (path: string, index: number): string => {
  const ext = extname(path)
  return join(dirname(path), `${basename(path, ext)}.part-${index}${ext}`)
}

/** `true` for a value a file sink's checkpoint wrote (`Resume`). */
export const isResume = (u: unknown): u is Resume =>
  typeof u === "object" && u !== null && typeof (u as Resume).partialPath === "string" && typeof (u as Resume).bytes === "number" &&
  Array.isArray((u as Resume).resumedFrom)

/** `out/on_time.csv`, run `0193…` → `out/on_time.partial-0193….csv`. */
export const partialPathOf = (path: string, runId: string): string => {
  const ext = extname(path)
  return join(dirname(path), `${basename(path, ext)}.partial-${runId}${ext}`)
}

const attempt = <A>(message: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new OutputFileError(`${message}: ${(cause as Error).message ?? String(cause)}`, cause) })

/**
 * Opens the partial file of `target` for the run `runId`, in the current scope (closed with it).
 * `header(continuing)` is written first, unless continuing an earlier attempt (e.g. a CSV header;
 * `continuing` says the output has one already: appending to a file that has content, or an
 * earlier attempt's output that has bytes).
 */
export const openOutput = (
  target: string,
  options: {
    readonly runId: string
    readonly append: boolean
    readonly header?: (appendingToExisting: boolean) => string
    /** A distributed run's partition: the output is the partition's own file, each attempt writes its own partial file. */
    readonly partition?: { readonly index: number; readonly attempt: number }
    /** Continue the partial output of an earlier attempt (its checkpoint). */
    readonly resume?: Resume
  }
): Effect.Effect<OutputFile, OutputFileError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = options.partition === undefined ? target : partitionPathOf(target, options.partition.index)
    const resume = options.resume
    // Each attempt writes its own partial file: a partition's by its claim, a resumed run's by how many attempts came before.
    const partialPath = partialPathOf(
      path,
      options.partition !== undefined ? `${options.runId}-${options.partition.attempt}`
        : resume !== undefined ? `${options.runId}-resume-${resume.resumedFrom.length + 1}`
        : options.runId
    )
    yield* attempt(`cannot create the folder of ${path}`, () => mkdir(dirname(path), { recursive: true }))
    if (resume !== undefined) {
      // The previous attempt's file may hold rows past its checkpoint (written, never committed): they are cut off.
      // The attempt before may have committed its output (moved into place) and died before
      // completing the partition: then the output itself is what it checkpointed.
      const from = yield* Effect.promise(() =>
        stat(resume.partialPath).then(() => resume.partialPath, () =>
          stat(path).then((s) => (!options.append && s.size === resume.bytes ? path : resume.partialPath), () => resume.partialPath)))
      yield* attempt(`cannot continue ${resume.partialPath} (the partial output of the attempt before; a worker continuing a partition needs the same file system)`, () =>
        copyFile(from, partialPath).then(() => truncate(partialPath, resume.bytes)))
    }
    const existing = options.append ? yield* Effect.promise(() => stat(path).then((s) => s.size, () => 0)) : 0
    const appendingToExisting = existing > 0
    let closed = false
    const handle = yield* Effect.acquireRelease(
      attempt(`cannot open ${partialPath}`, () => open(partialPath, resume === undefined ? "w" : "a")),
      (h) => (closed ? Effect.void : Effect.promise(() => h.close().catch(() => undefined)))
    )
    const close = Effect.suspend(() => {
      if (closed) return Effect.void
      closed = true
      return attempt(`cannot close ${partialPath}`, () => handle.close())
    })
    let bytes = resume?.bytes ?? 0
    const append = (text: string) =>
      Effect.suspend(() => {
        if (text.length === 0) return Effect.void
        bytes += Buffer.byteLength(text)
        return attempt(`cannot write ${partialPath}`, () => handle.appendFile(text))
      })
    // Continuing an earlier attempt's output that has its header already: the format must not write another.
    const header = options.header?.(appendingToExisting || (resume?.bytes ?? 0) > 0) ?? ""
    if (resume === undefined) yield* append(header)
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
      for (const earlier of resume === undefined ? [] : [...resume.resumedFrom, resume.partialPath]) {
        yield* Effect.promise(() => unlink(earlier).catch(() => undefined))
      }
      return { path, bytes, ...(options.append ? { appended: true } : {}) }
    })
    const abort = close.pipe(
      Effect.ignore,
      Effect.as({ path, partialPath, bytes, kept: "the target was left as it was; this run's partial output is partialPath" })
    )
    const checkpoint = (): Resume => ({
      partialPath,
      bytes,
      resumedFrom: resume === undefined ? [] : [...resume.resumedFrom, resume.partialPath]
    })
    return { path, checkpoint, append, bytes: () => bytes, appendingToExisting, commit, abort }
  })
