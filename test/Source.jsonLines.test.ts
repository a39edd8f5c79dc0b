/**
 * `Source.jsonLines` through the real Orchestrator and a SQLite Landscape: blank lines skipped,
 * `\r\n` endings, multi-byte text split across read chunks, a line that is not JSON quarantined
 * with its line number, a last line without a newline; and a resumed run reading on from the
 * checkpoint's byte offset (the lines before it are not read again), refused when the file changed
 * under it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LandscapeSqlite, Orchestrator, Pipeline, Sink, Source, TestExporter } from "../src/index.js"
import { querySqlite, tempDir } from "./helpers.js"

const Item = Schema.Struct({ id: Schema.Number, name: Schema.String })
type Item = typeof Item.Type

const pipelineIn = (dir: string, hold: { at: number | undefined }) =>
  Pipeline.make({ name: "jsonl", source: Source.jsonLines({ path: join(dir, "in.jsonl"), schema: Item, name: "items" }) }).pipe(
    Pipeline.transform(Pipeline.makeTransform("hold", (i: Item) => (hold.at !== undefined && i.id >= hold.at ? Effect.never : Effect.succeed(i)))),
    Pipeline.toSinks({ sinks: { out: Sink.jsonLines<Item>({ path: join(dir, "out.jsonl") }) }, default: "out", quarantine: Sink.jsonLines({ path: join(dir, "q.jsonl") }) })
  )

const layers = (db: string) => Layer.merge(TestExporter.layer(), LandscapeSqlite.layer({ filename: db }))
const read = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

describe("Source.jsonLines", () => {
  it.live("blank lines skipped, CRLF, multi-byte text, a bad line quarantined with its number, a last line without newline", () => {
    const dir = tempDir()
    // 5,000 lines of long multi-byte names: read chunks (64 KiB) end inside lines and inside characters.
    const lines = Array.from({ length: 5000 }, (_, id) => JSON.stringify({ id, name: `é🙂${"x".repeat(id % 50)}` }))
    lines.splice(10, 0, "", "   ", "{not json")
    lines[20] = lines[20] + "\r"
    writeFileSync(join(dir, "in.jsonl"), lines.join("\n"))
    return Effect.gen(function* () {
      const summary = yield* Orchestrator.run(pipelineIn(dir, { at: undefined }))
      expect(summary).toMatchObject({ rowsRead: 5001, quarantined: 1, rowsPerSink: { out: 5000 } })
      expect(read(join(dir, "out.jsonl")).map((i) => i.id)).toEqual(Array.from({ length: 5000 }, (_, id) => id))
      expect(read(join(dir, "out.jsonl"))[4999]).toEqual({ id: 4999, name: `é🙂${"x".repeat(49)}` })
      expect(read(join(dir, "q.jsonl")).map((q) => q.reason)).toEqual([expect.stringMatching(/^line 13: not JSON: /)])
    }).pipe(Effect.provide(layers(join(dir, "l.db"))))
  })

  it.live("a resumed run reads on from the checkpoint's byte offset; a file changed there is refused with SourceError", () => {
    const dir = tempDir()
    const db = join(dir, "l.db")
    const text = Array.from({ length: 600 }, (_, id) => JSON.stringify({ id, name: `n${id}` })).join("\n") + "\n"
    writeFileSync(join(dir, "in.jsonl"), text)
    const hold = { at: 300 as number | undefined }
    return Effect.gen(function* () {
      const reached = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Orchestrator.run(pipelineIn(dir, hold), {
        batchSize: 50,
        onProgress: (p) => (p.rowsDone >= 300 ? Deferred.succeed(reached, undefined) : Effect.void)
      }))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      const [{ run_id: runId, state_json: state }] = (yield* querySqlite<{ run_id: string; state_json: string }>(db, "SELECT run_id, state_json FROM run_checkpoints")) as [
        { run_id: string; state_json: string }
      ]
      const cursor = (JSON.parse(state) as { source: { bytes: number; line: number } }).source
      expect(cursor).toEqual({ bytes: Buffer.byteLength(text.split("\n").slice(0, 300).join("\n") + "\n"), line: 300, last: JSON.stringify({ id: 299, name: "n299" }) })
      hold.at = undefined

      // Changed where the checkpoint stands: refused.
      writeFileSync(join(dir, "in.jsonl"), text.replace(`{"id":299,`, `{"id":2990,`))
      const refused = yield* Effect.flip(Orchestrator.resume(pipelineIn(dir, hold), runId))
      expect(refused).toMatchObject({ _tag: "SourceError", message: expect.stringContaining("the file changed since the run's checkpoint: line 300") })

      // The lines before the offset blanked out, keeping their bytes: read again, the rows after would take their indexes.
      const before = text.slice(0, cursor.bytes - JSON.stringify({ id: 299, name: "n299" }).length - 1)
      writeFileSync(join(dir, "in.jsonl"), before.replace(/[^\n]/g, " ") + text.slice(before.length))
      const summary = yield* Orchestrator.resume(pipelineIn(dir, hold), runId)
      expect(summary).toMatchObject({ rowsRead: 600, quarantined: 0, attempt: 3 })
      expect(read(join(dir, "out.jsonl")).map((i) => i.id)).toEqual(Array.from({ length: 600 }, (_, id) => id))
    }).pipe(Effect.provide(layers(db)))
  })
})
