/**
 * An in-memory exporter for tests, provided with a real hub by {@link layer}. Unlike
 * OpenTelemetry's `InMemorySpanExporter`, shutting the layer down does not empty it.
 *
 * @since 0.1.0
 */
import { Context, Effect, Equal, Layer } from "effect"
import * as Exporter from "./Exporter.js"
import * as Telemetry from "./Telemetry.js"
import type { EventTag, Granularity, TelemetryEvent } from "./TelemetryEvent.js"

type EventOf<T extends EventTag> = Extract<TelemetryEvent, { readonly _tag: T }>

/**
 * @since 0.1.0
 */
export interface TestExporterService {
  /** Every event exported so far, in emit order (flushes the hub first). */
  readonly events: Effect.Effect<ReadonlyArray<TelemetryEvent>>
  /** The `_tag` of every event, in order: handy for whole-sequence assertions. */
  readonly tags: Effect.Effect<ReadonlyArray<EventTag>>
  /** The events with the given tag. */
  readonly eventsOf: <T extends EventTag>(tag: T) => Effect.Effect<ReadonlyArray<EventOf<T>>>
  /**
   * Succeeds with the first event of `tag` whose fields equal every field of `match`; otherwise
   * dies with an `AssertionError` listing the events of that tag and how each differs.
   */
  readonly assertEmitted: <T extends EventTag>(tag: T, match?: Partial<EventOf<T>>) => Effect.Effect<EventOf<T>>
  /** Forgets every event recorded so far. */
  readonly clear: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TestExporter extends Context.Tag("sightline/TestExporter")<TestExporter, TestExporterService>() {}

/**
 * Thrown (as a defect) by `assertEmitted`.
 *
 * @since 0.1.0
 */
export class AssertionError extends Error {
  override readonly name = "AssertionError"
}

const show = (value: unknown): string => JSON.stringify(value)

const differences = (event: object, match: object): Array<string> =>
  Object.entries(match).flatMap(([key, expected]) => {
    const actual = (event as Record<string, unknown>)[key]
    return Equal.equals(actual, expected) || show(actual) === show(expected)
      ? []
      : [`${key}: expected ${show(expected)}, got ${show(actual)}`]
  })

/**
 * The recorder behind {@link layer}: an `Exporter` that keeps every batch, and the
 * `TestExporter` service over it once the hub's `flush` is known.
 *
 * @internal
 * @since 0.1.0
 */
export const makeRecorder = () => {
  const recorded: Array<TelemetryEvent> = []
  const exporter = Exporter.make({
    name: "test",
    export: (batch) => Effect.sync(() => void recorded.push(...batch))
  })
  const service = (flush: Effect.Effect<void>): TestExporterService => {
    const events = Effect.as(flush, recorded as ReadonlyArray<TelemetryEvent>).pipe(Effect.map((all) => all.slice()))
    const eventsOf = <T extends EventTag>(tag: T) =>
      Effect.map(events, (all) => all.filter((e): e is EventOf<T> => e._tag === tag))
    return {
      events,
      tags: Effect.map(events, (all) => all.map((e) => e._tag)),
      eventsOf,
      assertEmitted: <T extends EventTag>(tag: T, match: Partial<EventOf<T>> = {}) =>
        Effect.flatMap(eventsOf(tag), (candidates) => {
          const found = candidates.find((e) => differences(e, match).length === 0)
          if (found !== undefined) return Effect.succeed(found)
          const lines = candidates.length === 0
            ? [`no ${tag} event was emitted`]
            : candidates.slice(0, 10).map((e, i) => `  #${i}: ${differences(e, match).join("; ")}`)
          return Effect.die(
            new AssertionError(
              [`Expected a ${tag} event matching ${show(match)}; ${candidates.length} ${tag} events seen:`, ...lines]
                .join("\n")
            )
          )
        }),
      clear: Effect.zipRight(flush, Effect.sync(() => void recorded.splice(0)))
    }
  }
  return { exporter, service }
}

/**
 * Telemetry for tests: the real hub with granularity `full` (unless given), one in-memory
 * `TestExporter`, and export as soon as an event arrives. Provides both `Telemetry` and
 * `TestExporter`; `TestExporter.events` flushes first, so it sees every event emitted before it.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: {
    readonly granularity?: Granularity
    /** Fraction of rows the engine gives spans of their own (see `Telemetry.Options.rowSpanRate`). Default 0.001. */
    readonly rowSpanRate?: number
  } = {}
): Layer.Layer<Telemetry.Telemetry | TestExporter> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const recorder = makeRecorder()
      const telemetry = yield* Telemetry.make({
        granularity: options.granularity ?? "full",
        exporters: [Effect.succeed(recorder.exporter)],
        exporterQueue: { strategy: "block" },
        exportInterval: "1 millis",
        ...(options.rowSpanRate === undefined ? {} : { rowSpanRate: options.rowSpanRate })
      })
      return Context.make(Telemetry.Telemetry, telemetry).pipe(
        Context.add(TestExporter, recorder.service(telemetry.flush))
      )
    })
  )
