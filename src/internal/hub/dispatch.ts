/**
 * The hub's dispatcher (DESIGN.md, "The hub"): takes batches from the ingress queue and offers
 * each event to every exporter's lane, in order. A full lane takes its overflow path (`drop`
 * waits for that lane's worker up to its patience, `block` waits for room, `slide` evicts), so
 * one lane can hold the dispatcher only within those rules.
 *
 * @internal
 */
import { type Duration, Effect } from "effect"
import type { TelemetryEvent } from "../../TelemetryEvent.js"
import type { Lane } from "./lane.js"
import type { OverflowStrategy } from "../../Telemetry.js"
import { advance, type Consumer, offerDropping } from "./overflow.js"
import type { Ring } from "./ring.js"

export interface DispatchContext {
  readonly ingress: Ring<TelemetryEvent>
  /** The dispatcher, as `emit` sees it when the ingress is full. */
  readonly state: Consumer
  readonly lanes: ReadonlyArray<Lane>
  /** Events taken from the ingress queue at a time (the hub's `maxBatchSize`). */
  readonly maxBatchSize: number
  readonly strategy: OverflowStrategy
  readonly dropPatience: Duration.Duration
  /** The longest a busy lane that keeps up may hold the dispatcher (the export time-out). */
  readonly exportTimeout: Duration.Duration
}

export interface Dispatcher {
  /** The dispatcher fiber's loop. */
  readonly run: Effect.Effect<never>
  /** Whether it holds events not yet offered to every lane. */
  readonly holding: () => boolean
  /**
   * After its fiber is interrupted at shutdown: counts the current event as lost for the lanes it
   * has not reached, and returns how many later events it held (lost for every lane).
   */
  readonly dropHeld: () => number
  /** Wakes a lane's worker when its queue reaches a batch. */
  readonly wakeIfFull: <A>(lane: Lane<A>) => void
}

const EMPTY: ReadonlyArray<TelemetryEvent> = []

export const makeDispatcher = (ctx: DispatchContext): Dispatcher => {
  const { ingress, lanes, maxBatchSize } = ctx

  const wakeIfFull = <A>(lane: Lane<A>): void => {
    // Size grows one at a time, so it passes the lane's batch size exactly once per fill.
    if (lane.queue.size === lane.batchSize) lane.wake.unsafeOffer(undefined)
  }

  const blockLane = (lane: Lane, event: TelemetryEvent): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (lane.circuit.state === "open") {
        lane.stats.dropped.circuitOpen += 1
        return Effect.void
      }
      if (lane.queue.unsafeOffer(event)) return Effect.void
      lane.worker.moved.unsafeClose()
      lane.wake.unsafeOffer(undefined)
      return Effect.zipRight(lane.worker.moved.await, blockLane(lane, event))
    })

  /** Offers to one lane; `undefined` when done synchronously, else the overflow path to run. */
  const offerLane = (lane: Lane, event: TelemetryEvent): Effect.Effect<void> | undefined => {
    if (lane.circuit.state === "open") {
      lane.stats.dropped.circuitOpen += 1
      return undefined
    }
    if (lane.queue.unsafeOffer(event)) {
      wakeIfFull(lane)
      return undefined
    }
    lane.wake.unsafeOffer(undefined)
    switch (ctx.strategy) {
      case "drop":
        return offerDropping(lane.queue, event, lane.worker, ctx.dropPatience, lane.onDrop, ctx.exportTimeout)
      case "slide":
        lane.queue.unsafeSlide(event)
        lane.stats.dropped.queueOverflow += 1
        return undefined
      case "block":
        return blockLane(lane, event)
    }
  }

  // What the dispatcher holds: `pending[pos]` has been offered to `lanes[0 .. lanePos)`.
  let pending: ReadonlyArray<TelemetryEvent> = EMPTY
  let pos = 0
  let lanePos = 0

  const step = (restore: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>): Effect.Effect<void> =>
    Effect.suspend(() => {
      while (pos < pending.length) {
        const event = pending[pos] as TelemetryEvent
        while (lanePos < lanes.length) {
          const slow = offerLane(lanes[lanePos] as Lane, event)
          if (slow !== undefined) {
            return Effect.flatMap(restore(slow), () => {
              lanePos += 1
              return step(restore)
            })
          }
          lanePos += 1
        }
        lanePos = 0
        pos += 1
      }
      pending = EMPTY
      pos = 0
      return Effect.void
    })

  const run = Effect.forever(
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(ingress.awaitItems), () => {
        pending = ingress.takeUpTo(maxBatchSize)
        advance(ctx.state)
        pos = 0
        lanePos = 0
        return step(restore)
      })
    )
  )

  const dropHeld = (): number => {
    if (pos >= pending.length) return 0
    if (lanePos > 0) {
      for (const lane of lanes.slice(lanePos)) lane.stats.dropped.shutdown += 1
      pos += 1
    }
    const lost = pending.length - pos
    pending = EMPTY
    pos = 0
    lanePos = 0
    return lost
  }

  return { run, holding: () => pending.length > 0, dropHeld, wakeIfFull }
}
