/**
 * `sightline`: reads a Landscape from the command line (`npx sightline --help`). Entry point of the
 * `bin` (see `bin/sightline.mjs`, which runs the bundled build of this file, dist/cli/sightline.cjs).
 *
 * Exit codes: 0 done; 1 a Landscape failure, `verify` found a problem, or a run `resume`d did not
 * complete; 2 a bad argument or a missing database, said in one line on standard error; 130 / 143
 * interrupted by SIGINT / SIGTERM.
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Effect } from "effect"
import * as Main from "../internal/run/main.js"
import { sightline } from "./commands.js"

/** Set by the bundler (`bin/build-cli.mjs`) from package.json. */
declare const __SIGHTLINE_VERSION__: string | undefined
const version = typeof __SIGHTLINE_VERSION__ === "string" ? __SIGHTLINE_VERSION__ : "0.0.0"

const program = Command.run(sightline, { name: "sightline", version })(process.argv).pipe(
  Effect.catchAll((error) => {
    // @effect/cli has printed its own message for a bad argument.
    if (ValidationError.isValidationError(error)) return Effect.sync(() => void (process.exitCode = 2))
    const usage = error._tag === "UsageError"
    return Console.error(`sightline: ${error.message.replace(/\s*\n\s*/g, " ")}`).pipe(
      Effect.zipRight(Effect.sync(() => void (process.exitCode = usage ? 2 : 1)))
    )
  }),
  Effect.catchAllDefect((defect) =>
    Effect.sync(() => {
      console.error(`sightline: ${String(defect instanceof Error ? defect.message : defect).split("\n")[0]}`)
      process.exitCode = 1
    })
  ),
  Effect.provide(NodeContext.layer)
)

// SIGINT / SIGTERM interrupt the command (a `resume` then records its run `interrupted`); it exits 130 / 143.
Main.runMain(program, { disableErrorReporting: true })
