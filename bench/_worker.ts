/**
 * A worker process of `bench/landscape-pg.ts`'s distributed rounds: builds the identity pipeline
 * (the same as the bench's, so the same configuration hash) and its `LandscapePg` layer, prints
 * `ready`, then works on the run whose id arrives on stdin and exits.
 *
 * Arguments: <postgres URL> <output folder> <rows>.
 */
import { Effect, Layer, Redacted } from "effect"
import { createInterface } from "node:readline"
import { DistributedRun, Landscape, LandscapePg, Telemetry } from "../src/index.js"
import { identityPipeline } from "./_identity.js"

const [url, dir, rows] = process.argv.slice(2) as [string, string, string]
const nextLine = Effect.async<string>((resume) => {
  const lines = createInterface({ input: process.stdin })
  lines.once("line", (line) => {
    lines.close()
    resume(Effect.succeed(line.trim()))
  })
})

const program = Effect.gen(function* () {
  yield* Landscape.listRuns({ limit: 1 })
  console.log("ready")
  const runId = yield* nextLine
  yield* DistributedRun.work(identityPipeline(dir, Number(rows)), { runId })
})

await Effect.runPromise(program.pipe(Effect.provide(Layer.merge(LandscapePg.layer({ url: Redacted.make(url) }), Telemetry.layerDisabled))))
