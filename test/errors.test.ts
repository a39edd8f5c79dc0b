/**
 * Error messages a user reads: one line, naming what failed and where, with the system's own
 * reason, never a prefix twice.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Landscape, LandscapeSqlite } from "../src/index.js"
import { tempDir } from "./helpers.js"

const openError = (filename: string, options: Partial<LandscapeSqlite.Options> = {}) =>
  Effect.flip(Effect.provide(Landscape.listRuns(), LandscapeSqlite.layer({ filename, ...options })))

describe("Landscape open errors", () => {
  it.live("a directory where the file should be: LandscapeError naming the file once, with SQLite's reason", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const error = yield* openError(dir)
      expect(error).toBeInstanceOf(Landscape.LandscapeError)
      expect(error.operation).toBe("open")
      expect(error.message).toBe(`Landscape open (file "${dir}") failed: unable to open database file`)
    }))

  it.live("a folder that cannot be created: the system error (EEXIST / ENOTDIR) and the path, not repeated", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      writeFileSync(join(dir, "not-a-folder"), "")
      const filename = join(dir, "not-a-folder", "landscape.db")
      const error = yield* openError(filename)
      expect(error.message).toMatch(new RegExp(`^Landscape open \\(file "${filename.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"\\) failed: (EEXIST|ENOTDIR)`))
      expect(error.message.match(/Landscape open/g)?.length).toBe(1)
    }))
})
