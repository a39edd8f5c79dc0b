/**
 * The hub's tracer: Effect's own tracer, wrapped so that every span that ends is copied into
 * plain `SpanData` and handed to the hub, which offers it to each span exporter's bounded lane
 * (DESIGN.md: "spans as OTLP spans; both through the hub's bounded, counted lanes"). Effect's
 * `OtlpTracer` buffers without bound and drops silently; here a full lane drops the newest span
 * and counts it, like OpenTelemetry's batch span processor (specification `trace/sdk.md`).
 *
 * The tracer does not sample: it exports whatever spans exist and are `sampled`. Which spans the
 * engine creates (run spans always, row spans for sampled rows) is the engine's rule.
 *
 * @internal
 */
import { Cause, type Context, Effect, Exit, Layer, Option, Tracer } from "effect"
import type { SpanData, SpanExporter } from "../../Exporter.js"

export type { SpanExporter }

type Attributes = ReadonlyArray<readonly [string, unknown]>

const entries = (record: Readonly<Record<string, unknown>> | undefined): Attributes =>
  record === undefined ? [] : Object.entries(record)

const statusOf = (exit: Exit.Exit<unknown, unknown>): SpanData["status"] => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return { code: "unset" }
  const reason = Cause.squash(exit.cause)
  return { code: "error", message: reason instanceof Error ? reason.message : String(reason) }
}

/** A span that records its events and reports itself to `onEnd` when it ends; the rest is the wrapped span's. */
class RecordingSpan implements Tracer.Span {
  readonly _tag = "Span"
  private readonly recorded: Array<SpanData["events"][number]> = []
  constructor(
    private readonly inner: Tracer.Span,
    private readonly onEnd: (span: Tracer.Span, events: SpanData["events"], endTime: bigint, exit: Exit.Exit<unknown, unknown>) => void
  ) {}
  get name() {
    return this.inner.name
  }
  get spanId() {
    return this.inner.spanId
  }
  get traceId() {
    return this.inner.traceId
  }
  get parent() {
    return this.inner.parent
  }
  get context() {
    return this.inner.context
  }
  get status() {
    return this.inner.status
  }
  get attributes() {
    return this.inner.attributes
  }
  get links() {
    return this.inner.links
  }
  get sampled() {
    return this.inner.sampled
  }
  get kind() {
    return this.inner.kind
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.inner.end(endTime, exit)
    this.onEnd(this.inner, this.recorded, endTime, exit)
  }
  attribute(key: string, value: unknown): void {
    this.inner.attribute(key, value)
  }
  event(name: string, startTime: bigint, attributes?: Record<string, unknown>): void {
    this.inner.event(name, startTime, attributes)
    this.recorded.push({ name, timeUnixNano: startTime, attributes: entries(attributes) })
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.inner.addLinks(links)
  }
}

/** Copies an ended span into `SpanData`. */
export const toSpanData = (
  span: Tracer.Span,
  events: SpanData["events"],
  endTime: bigint,
  exit: Exit.Exit<unknown, unknown>
): SpanData => {
  const parent = Option.getOrUndefined(span.parent)
  const startTime = span.status.startTime
  return {
    name: span.name,
    traceId: span.traceId,
    spanId: span.spanId,
    ...(parent === undefined ? {} : { parentSpanId: parent.spanId }),
    kind: span.kind,
    startTimeUnixNano: startTime,
    endTimeUnixNano: endTime,
    attributes: Array.from(span.attributes),
    events,
    links: span.links.map((l) => ({ traceId: l.span.traceId, spanId: l.span.spanId, attributes: entries(l.attributes) })),
    status: statusOf(exit)
  }
}

/** Wraps `underlying` so that each span reports itself, when it ends, to `onEnd`. */
export const makeTracer = (underlying: Tracer.Tracer, onEnd: (span: SpanData | undefined) => void): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context: Context.Context<never>, links, startTime, kind, options) =>
      new RecordingSpan(
        underlying.span(name, parent, context, links, startTime, kind, options),
        (span, events, endTime, exit) => onEnd(span.sampled ? toSpanData(span, events, endTime, exit) : undefined)
      ),
    context: (f, fiber) => underlying.context(f, fiber)
  })

/** What the hub hands the layer: the layer that installs its tracer (empty without span exporters). */
export interface TracerInstaller {
  readonly layer: Layer.Layer<never>
}

/** A layer that installs the wrapped form of the tracer in place (Effect's native one by default). */
export const installer = (onEnd: (span: SpanData | undefined) => void): TracerInstaller => ({
  layer: Layer.unwrapEffect(Effect.map(Effect.tracer, (current) => Layer.setTracer(makeTracer(current, onEnd))))
})

export const noTracer: TracerInstaller = { layer: Layer.empty }
