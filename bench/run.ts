/**
 * Benchmark entry point: `npm run bench -- <name>` runs `bench/<name>.ts`; without a name it lists
 * the benchmarks. Each benchmark compares Sightline against a named peer in the same process run
 * and prints its absolute figures, then one `ratio <name> <value>` line per comparison.
 */
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const available = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort()
const name = process.argv[2]
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join(" | ")}>`)
  process.exit(name === undefined ? 0 : 2)
}
await import(pathToFileURL(join(here, `${name}.ts`)).href)
