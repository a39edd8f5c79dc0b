/**
 * The process's main fiber for a pipeline program (`Orchestrator.runMain`), on
 * `@effect/platform`'s `makeRunMain`: SIGINT and SIGTERM interrupt the program, so a run in it
 * stops and is recorded `interrupted`, and the process exits 128 + the signal's number (130, 143).
 *
 * Unlike `NodeRuntime.runMain`, the handlers stay installed until the program has finished
 * shutting down. A wrapper such as tsx relays the signal it received to its child (tsx does so
 * when the child has not acknowledged it within 30 ms), and npm does too: with no handler left,
 * that second delivery would end the process in the middle of recording the run. A repeated
 * signal within `repeatWindowMs` is taken for the same request; one after it ends the process at
 * once, for a user who insists.
 *
 * @internal
 */
import { makeRunMain, type Teardown } from "@effect/platform/Runtime"
import { Cause, Effect, Exit } from "effect"
import * as EventLoop from "../eventLoop.js"
import { constants } from "node:os"

/** How long a repeated signal counts as the same request, milliseconds. */
export const repeatWindowMs = 2000

const codeOf = (signal: NodeJS.Signals): number => 128 + (constants.signals[signal] ?? 0)

const runWithSignals = makeRunMain(({ fiber, teardown }) => {
  const keepAlive = setInterval(() => undefined, 2 ** 31 - 1)
  let first: { readonly signal: NodeJS.Signals; readonly at: number } | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (first === undefined) {
      first = { signal, at: Date.now() }
      fiber.unsafeInterruptAsFork(fiber.id())
    } else if (Date.now() - first.at > repeatWindowMs) {
      process.exit(codeOf(signal))
    }
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    clearInterval(keepAlive)
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    if (first !== undefined && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) process.exit(codeOf(first.signal))
    teardown(exit, (code) => {
      if (first !== undefined || code !== 0) process.exit(code)
    })
  })
})

/** Runs `program` as the main fiber, on the scheduler that keeps the event loop responsive (`eventLoop.ts`). */
export const runMain = <A, E>(
  program: Effect.Effect<A, E>,
  options?: { readonly disableErrorReporting?: boolean; readonly disablePrettyLogger?: boolean; readonly teardown?: Teardown }
): void => runWithSignals(Effect.withScheduler(program, EventLoop.scheduler), options)
