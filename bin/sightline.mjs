#!/usr/bin/env node
/**
 * The `sightline` command: runs the bundled build, dist/cli/sightline.cjs. In a checkout of the
 * repository (its tsconfig.json is there, which a published package does not ship) the bundle is
 * rebuilt first when it is missing or older than a source file (or package.json, or the build script), so `npx sightline` always runs the
 * current source; a published package ships the bundle (`prepack`).
 *
 * The bundle is compiled through `vm.Script` with V8's cached data (beside it, else in the temporary
 * folder), so later runs skip parsing and compiling it: about half of the start-up.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Buffer } from "node:buffer"
import process from "node:process"
import { setImmediate } from "node:timers"
import { Script } from "node:vm"
import { bundlePath, root } from "./build-cli.mjs"

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

if (existsSync(join(root, "tsconfig.json")) && existsSync(join(root, "src", "cli", "main.ts"))) {
  const stale = !existsSync(bundlePath) || statSync(bundlePath).mtimeMs < Math.max(newestSource(join(root, "src")), ...["package.json", "bin/build-cli.mjs"].map((f) => statSync(join(root, f)).mtimeMs))
  if (stale) await (await import("./build-cli.mjs")).buildCli()
}
const source = readFileSync(bundlePath, "utf8")
const stamp = `${statSync(bundlePath).mtimeMs}-${process.version}`
const caches = [`${bundlePath}.cache`, join(tmpdir(), "sightline-cli", `${stamp.replace(/[^\w.-]/g, "_")}.cache`)]
const readCache = () => {
  for (const path of caches) {
    try {
      const data = readFileSync(path)
      const marker = Buffer.from(`${stamp}\n`)
      if (data.subarray(0, marker.length).equals(marker)) return data.subarray(marker.length)
    } catch {
      // no cache there
    }
  }
  return undefined
}
const cachedData = readCache()
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundlePath, ...(cachedData ? { cachedData } : {}) })
const module = { exports: {} }
// The bundle runs in a vm.Script, whose code cannot `import()`: `sightline resume` loads a job's module with this.
globalThis[Symbol.for("sightline/cli/import")] = (url) => import(url)
script.runInThisContext()(module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath))
if (cachedData === undefined || script.cachedDataRejected) {
  // After the run has started, so the code that ran is compiled into the cache too.
  setImmediate(() => {
    const data = Buffer.concat([Buffer.from(`${stamp}\n`), script.createCachedData()])
    for (const path of caches) {
      try {
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, data)
        return
      } catch {
        // read-only: try the next place
      }
    }
  })
}
