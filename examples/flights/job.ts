/**
 * The main job as a `Job`, for the command line: after an interrupted `npm start` (Ctrl-C, a crash,
 * `kill -9`),
 *
 *   npx sightline resume latest --job examples/flights/job.ts
 *
 * continues the most recent interrupted run from its last checkpoint, with the same environment as
 * `npm start` (SIGHTLINE_OUT, SIGHTLINE_LANDSCAPE, FLIGHTS_FILE, …; see main.ts). Its events are
 * appended to events.jsonl.
 */
import { Effect } from "effect"
import { Job } from "../../src/index.js"
import * as Live from "./live.js"
import { makePipeline } from "./pipeline.js"

export default Job.make({
  pipeline: Effect.map(Live.settings, (s) => makePipeline({ outDir: s.outDir, flights: s.flights })),
  layer: Live.layer({ append: true })
})
