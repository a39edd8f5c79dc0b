/**
 * The hub's bounded queue: a ring buffer with synchronous offer and batch take, and a latch its
 * one consumer waits on while it is empty.
 *
 * Why not Effect's `Queue`: taking a batch from it (`takeUpTo`, `takeBetween`, `takeAll`) builds
 * the result by prepending each element to a `Chunk` and reversing it, one allocation per element;
 * profiled on the hub (`bench/hub.ts`, `emitAll` to a null exporter) the `Chunk` work and the GC it
 * causes were the largest share of the hub's cost per event. The ring allocates one array per
 * batch. Producers that wait for space use the consumer's latch (`overflow.ts`), not the ring.
 *
 * @internal
 */
import { Effect } from "effect"

export class Ring<A> {
  private readonly items: Array<A | undefined>
  private head = 0
  private count = 0
  private shut = false

  constructor(readonly capacity: number, private readonly nonEmpty: Effect.Latch) {
    this.items = new Array<A | undefined>(capacity)
  }

  get size(): number {
    return this.count
  }

  /** Adds `item` unless the ring is full or shut down. */
  unsafeOffer(item: A): boolean {
    if (this.shut || this.count === this.capacity) return false
    this.items[(this.head + this.count) % this.capacity] = item
    this.count += 1
    if (this.count === 1) this.nonEmpty.unsafeOpen()
    return true
  }

  /** Adds `item`, evicting the oldest when full; `true` when one was evicted. */
  unsafeSlide(item: A): boolean {
    if (this.shut) return false
    let evicted = false
    if (this.count === this.capacity) {
      this.items[this.head] = undefined
      this.head = (this.head + 1) % this.capacity
      this.count -= 1
      evicted = true
    }
    this.unsafeOffer(item)
    return evicted
  }

  /** Removes and returns up to `max` items, oldest first. */
  takeUpTo(max: number): Array<A> {
    const n = Math.min(max, this.count)
    const out = new Array<A>(n)
    for (let i = 0; i < n; i++) {
      const at = (this.head + i) % this.capacity
      out[i] = this.items[at] as A
      this.items[at] = undefined
    }
    this.head = (this.head + n) % this.capacity
    this.count -= n
    if (this.count === 0) this.nonEmpty.unsafeClose()
    return out
  }

  takeAll(): Array<A> {
    return this.takeUpTo(this.count)
  }

  /** Succeeds once the ring holds an item (at once when it does). */
  readonly awaitItems: Effect.Effect<void> = Effect.suspend(() => (this.count > 0 ? Effect.void : this.nonEmpty.await))

  /** Refuses every later offer; what it holds stays until taken. */
  shutdown(): void {
    this.shut = true
  }
}

export const make = <A>(capacity: number): Effect.Effect<Ring<A>> =>
  Effect.map(Effect.makeLatch(false), (latch) => new Ring<A>(capacity, latch))
