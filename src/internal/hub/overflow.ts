/**
 * The hub's bounded queues and what happens when one is full (DESIGN.md, "The hub"): `block`
 * suspends the producer, `drop` refuses the newest item, `slide` evicts the oldest.
 *
 * `drop` on one thread: a consumer only runs when its producer gives up the thread, so a queue
 * that dropped at the first refusal would drop under normal load (effect-v3-notes §4). Yielding a
 * fixed number of turns is not enough either: Effect 3.22 schedules each fiber on a runner of its
 * own, and a runner that has gone 2048 microtask turns falls back to `setTimeout`, so a producer
 * can yield a thousand times before its consumer runs once. A producer that finds the queue full
 * therefore waits, without spinning, until its consumer frees space or has stalled (no progress
 * for `patience` of time in which it could run: see `awaitProgress`); only then does it drop, and
 * it goes on dropping at once, without waiting, until the consumer moves.
 *
 * @internal
 */
import { Clock, Duration, Effect, Option } from "effect"
import * as Ring from "./ring.js"

import type { QueueOptions } from "../../Telemetry.js"

export type { QueueOptions }

export const makeQueue = <A>(options: QueueOptions): Effect.Effect<Ring.Ring<A>> => Ring.make<A>(options.capacity)

/** Items in `queue` now (0 once it is shut down). */
export const sizeOf = (queue: { readonly size: number }): number => queue.size

/** A queue's consumer as its producers see it: how far it has got, and a latch it opens when it takes. */
export interface Consumer {
  /** Takes so far. */
  progress: number
  /** `progress` when a `drop` producer last gave up waiting (−1: never). */
  stalledAt: number
  /** Opened by the consumer after each take; closed by a producer before it waits. */
  readonly moved: Effect.Latch
  /** Whether an export (a batch the consumer took) is in flight. */
  busy: boolean
  /** The longest of the consumer's recent successful exports, milliseconds (0: none yet). */
  recentMaxMs: number
  /** Set when a producer found it stalled; cleared when it has emptied its queue (caught up). */
  behind: boolean
}

export const makeConsumer: Effect.Effect<Consumer> = Effect.map(
  Effect.makeLatch(false),
  (moved): Consumer => ({ progress: 0, stalledAt: -1, moved, busy: false, recentMaxMs: 0, behind: false })
)

/**
 * How long a producer may wait for `consumer` before it counts as stalled. A consumer with an
 * export in flight is not stalled but busy: when it has kept up (it emptied its queue since it was
 * last found stalled), a producer waits for that export as long as its recent exports took, four
 * times over (at least `patienceMs`; at most `capMs`, the export time-out). A consumer that is
 * behind, or idle, gets `patienceMs`: so a hung or overloaded exporter holds the dispatcher for
 * one `patienceMs` per stall, and a local file that keeps up is never dropped because one write
 * took longer than usual on a loaded machine.
 */
export const patienceFor = (consumer: Consumer, patienceMs: number, capMs: number): number =>
  consumer.busy && !consumer.behind ? Math.min(capMs, Math.max(patienceMs, 4 * consumer.recentMaxMs)) : patienceMs

/** Called by the consumer after each take: wakes producers waiting for space. */
export const advance = (consumer: Consumer): void => {
  consumer.progress += 1
  consumer.moved.unsafeOpen()
}

/**
 * Waits until `consumer` moves past `seen`, or until it has made no progress for `patienceMs` of
 * time *in which it could have run*; succeeds with `true` when it moved.
 *
 * On one thread, wall time is the wrong measure: while the consumer's own synchronous export work
 * (encoding a batch) or the producer's runs, the consumer cannot take, and a timer that fires
 * after such a stretch fires in the event loop's timers phase, before the I/O callback that would
 * let the consumer take. So each wait of `r` ms that took `e` ms is charged only `2r − e` (the
 * time the thread can have been free; nothing when it was busy at least `r` of it), and the next
 * wait gives the consumer a full turn of the event loop first.
 */
const awaitProgress = (consumer: Consumer, seen: number, basePatienceMs: number, capMs: number): Effect.Effect<boolean> => {
  const loop = (charged: number): Effect.Effect<boolean> =>
    Effect.flatMap(Clock.currentTimeMillis, (start) => {
      const patienceMs = patienceFor(consumer, basePatienceMs, capMs)
      const requested = Math.max(1, patienceMs - charged)
      return Effect.flatMap(Effect.timeoutOption(consumer.moved.await, Duration.millis(requested)), (moved) => {
        if (Option.isSome(moved) || consumer.progress !== seen) return Effect.succeed(true)
        return Effect.flatMap(Clock.currentTimeMillis, (end) => {
          const total = charged + Math.max(0, 2 * requested - (end - start))
          return total >= patienceMs ? Effect.succeed(false) : loop(total)
        })
      })
    })
  return loop(0)
}

/**
 * `drop`, once `queue` refused `item`: waits for the consumer to take (see `awaitProgress`),
 * retries, and calls `onDrop` when the consumer stalled. While it stays where it was at that
 * drop, further items are dropped at once (returns `undefined`: nothing to run), so overload costs
 * one wait per stall of the consumer rather than one per event.
 */
export const offerDropping = <A>(
  queue: Ring.Ring<A>,
  item: A,
  consumer: Consumer,
  patience: Duration.Duration,
  onDrop: () => void,
  cap: Duration.Duration = patience
): Effect.Effect<void> | undefined => {
  if (consumer.stalledAt === consumer.progress) {
    onDrop()
    return undefined
  }
  const patienceMs = Duration.toMillis(patience)
  const capMs = Duration.toMillis(cap)
  const attempt: Effect.Effect<void> = Effect.suspend(() => {
    if (queue.unsafeOffer(item)) return Effect.void
    const seen = consumer.progress
    if (consumer.stalledAt === seen) {
      onDrop()
      return Effect.void
    }
    consumer.moved.unsafeClose()
    return Effect.flatMap(awaitProgress(consumer, seen, patienceMs, capMs), (moved) => {
      if (moved) return attempt
      if (queue.unsafeOffer(item)) return Effect.void
      consumer.stalledAt = seen
      consumer.behind = true
      onDrop()
      return Effect.void
    })
  })
  return attempt
}
