#!/usr/bin/env node
/**
 * The `sightline` command: runs the bundled build, dist/cli/sightline.mjs. In a checkout of the
 * repository (its tsconfig.json is there, which a published package does not ship) the bundle is
 * rebuilt first when it is missing or older than a source file, so `npx sightline` always runs the
 * current source; a published package ships the bundle (`prepack`).
 */
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
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
  const stale = !existsSync(bundlePath) || statSync(bundlePath).mtimeMs < Math.max(newestSource(join(root, "src")), statSync(join(root, "package.json")).mtimeMs)
  if (stale) await (await import("./build-cli.mjs")).buildCli()
}
await import(pathToFileURL(bundlePath).href)
