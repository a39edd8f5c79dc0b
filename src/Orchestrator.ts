/**
 * Runs a pipeline: records the run, its nodes, rows, tokens, node states, routing decisions and
 * operations in the Landscape, and emits the engine's telemetry after each record.
 *
 * `run` requires `Landscape` and `Telemetry` in its type, so a run without both does not compile
 * (DESIGN.md invariant 1). A `LandscapeError` is never recovered: the run's `Exit` fails with it
 * (invariant 3). Rows are processed with bounded concurrency and still reach their sinks in source
 * order.
 *
 * @since 0.1.0
 */
import { Cause, Chunk, type Duration, Effect, Stream } from "effect"
import { CallScope, FatalSink, type OperationScope } from "./CallScope.js"
import { emptyBatch } from "./internal/journal.js"
import { type Processed, processRow, type RunContext } from "./internal/processor.js"
import { Landscape, type LandscapeError, type NodeRecord, type RunTotals } from "./Landscape.js"
import type { Pipeline, SinkError, SinkWriter, SourceError } from "./Pipeline.js"
import { Telemetry } from "./Telemetry.js"
import { currentTrace, type Phase } from "./TelemetryEvent.js"
import { hashCanonical } from "./internal/hashing.js"
import { newId } from "./internal/ids.js"

/**
 * What a completed run reports.
 *
 * @since 0.1.0
 */
export interface RunSummary {
  readonly runId: string
  readonly pipeline: string
  readonly status: "completed"
  /** Records the source produced (valid or not). */
  readonly rowsRead: number
  /** Rows written to each named sink. */
  readonly rowsPerSink: Readonly<Record<string, number>>
  /** Rows written to the quarantine sink. */
  readonly quarantined: number
  /** Wall time of the run, milliseconds. */
  readonly durationMs: number
  readonly telemetryEnabled: boolean
  /** Tokens and cost (USD) of the run's LLM calls, for the run and per node (zero when there were none). */
  readonly llm: RunTotals
}

/**
 * Progress, reported after each batch of rows reaches its sinks.
 *
 * @since 0.1.0
 */
export interface Progress {
  readonly runId: string
  readonly rowsDone: number
  readonly quarantined: number
  readonly elapsedMs: number
}

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** Rows processed at once. Default 4. Sink output stays in source order whatever the value. */
  readonly concurrency?: number
  /**
   * Rows per Landscape transaction and sink write. Default 256. Their records and events wait
   * until the batch is full or `batchWindow` has passed.
   */
  readonly batchSize?: number
  /** Longest time a processed row waits for its batch. Default 1 second. */
  readonly batchWindow?: Duration.DurationInput
  /** Called after every batch. */
  readonly onProgress?: (progress: Progress) => Effect.Effect<void>
}

/** @since 0.1.0 */
export type RunError = LandscapeError | SourceError | SinkError

/**
 * Runs `pipeline` to completion and returns its summary. Fails with `LandscapeError` when the
 * Landscape cannot be written (fatal, never recovered), `SourceError` when the source cannot be
 * read, `SinkError` when a sink cannot be written; in each case the run is recorded `failed` (as
 * far as the Landscape still works) and `RunFinished` is emitted with the reason.
 *
 * @since 0.1.0
 */
export const run = <R>(
  pipeline: Pipeline<R>,
  options: RunOptions = {}
): Effect.Effect<RunSummary, RunError, Landscape | Telemetry | Exclude<R, CallScope>> =>
  Effect.gen(function* () {
    const landscape = yield* Landscape
    const telemetry = yield* Telemetry
    const runId = newId()
    const startedAt = Date.now()
    const t0 = performance.now()
    const stamp = Effect.map(currentTrace, (trace) => ({ timestamp: Date.now(), runId, ...trace }))
    const phase = (p: Phase) => Effect.flatMap(stamp, (base) => telemetry.emit({ _tag: "PhaseChanged", ...base, phase: p }))

    const sinkNames = Object.keys(pipeline.sinks)
    const names = [pipeline.source.name, ...pipeline.steps.map((s) => s.name), ...sinkNames, "quarantine"]
    const duplicate = names.find((n, i) => names.indexOf(n) !== i)
    if (duplicate !== undefined) {
      return yield* Effect.dieMessage(`Pipeline "${pipeline.name}": two nodes are named "${duplicate}"; node names must be unique`)
    }
    const config = {
      pipeline: pipeline.name,
      source: { name: pipeline.source.name, config: pipeline.source.config },
      steps: pipeline.steps.map((s) => ({ kind: s._tag, name: s.name, config: s.config })),
      sinks: Object.fromEntries(sinkNames.map((n) => [n, pipeline.sinks[n]!.config])),
      defaultSink: pipeline.defaultSink ?? null,
      quarantine: pipeline.quarantine.config
    }

    yield* Effect.annotateCurrentSpan({ "sightline.run.id": runId, "sightline.pipeline": pipeline.name })
    yield* landscape.beginRun({
      runId,
      pipeline: pipeline.name,
      config,
      telemetryEnabled: telemetry.enabled,
      telemetryGranularity: telemetry.granularity,
      startedAt
    })
    yield* telemetry.emit({ _tag: "RunStarted", ...(yield* stamp), pipeline: pipeline.name, configHash: hashCanonical(config) })

    const counts = { read: 0, quarantined: 0, perSink: Object.fromEntries(sinkNames.map((n) => [n, 0])) }
    const fatal: RunContext["fatal"] = { error: undefined }
    const body = Effect.gen(function* () {
      yield* phase("registering")
      const nodeId = () => newId()
      const sourceNodeId = nodeId()
      const steps = pipeline.steps.map((step) => ({ step, nodeId: nodeId() }))
      const sinkNodeIds = new Map(sinkNames.map((n) => [n, nodeId()] as const))
      const quarantineNodeId = nodeId()
      const nodes: Array<NodeRecord> = [
        { nodeId: sourceNodeId, runId, name: pipeline.source.name, kind: "source", position: 0, config: pipeline.source.config },
        ...steps.map(({ nodeId, step }, i): NodeRecord => ({
          nodeId,
          runId,
          name: step.name,
          kind: step._tag === "Transform" ? "transform" : "gate",
          position: i + 1,
          config: step.config
        })),
        ...sinkNames.map((name, i): NodeRecord => ({
          nodeId: sinkNodeIds.get(name)!,
          runId,
          name,
          kind: "sink",
          position: steps.length + 1 + i,
          config: pipeline.sinks[name]!.config
        })),
        { nodeId: quarantineNodeId, runId, name: "quarantine", kind: "sink", position: steps.length + 1 + sinkNames.length, config: pipeline.quarantine.config }
      ]
      yield* landscape.registerNodes(nodes)

      // One operation per source and sink; calls they make are recorded under it.
      const operations = new Map<string, OperationScope & { readonly kind: string; readonly startedAt: number }>()
      const beginOperation = (name: string, nodeId: string, kind: string, details: unknown) =>
        Effect.gen(function* () {
          const operation = {
            _tag: "OperationScope" as const,
            runId,
            nodeId,
            operationId: newId(),
            kind,
            startedAt: Date.now(),
            [FatalSink]: (error: LandscapeError) => void (fatal.error ??= error)
          }
          yield* landscape.beginOperation({ operationId: operation.operationId, runId, nodeId, kind, details, startedAt: operation.startedAt })
          operations.set(name, operation)
          return operation
        })
      const sourceOp = yield* beginOperation(pipeline.source.name, sourceNodeId, pipeline.source.operation, pipeline.source.config)
      const writers = new Map<string, SinkWriter<unknown>>()
      const sinkTargets = [...sinkNames.map((n) => [n, sinkNodeIds.get(n)!, pipeline.sinks[n]!] as const), ["quarantine", quarantineNodeId, pipeline.quarantine] as const]
      for (const [name, nodeId, sink] of sinkTargets) {
        const op = yield* beginOperation(name, nodeId, sink.operation, sink.config)
        writers.set(name, (yield* Effect.provideService(sink.open, CallScope, op)) as SinkWriter<unknown>)
      }
      const finishOperations = (status: "completed" | "failed", error?: string) =>
        Effect.forEach(operations, ([name, op]) =>
          landscape.completeOperation({
            operationId: op.operationId,
            status,
            details: name === pipeline.source.name
              ? { records: counts.read }
              : { rows: name === "quarantine" ? counts.quarantined : counts.perSink[name], bytes: writers.get(name)?.bytesWritten() ?? 0 },
            ...(error === undefined ? {} : { error }),
            completedAt: Date.now(),
            durationMs: Date.now() - op.startedAt
          }), { discard: true })

      const ctx: RunContext = {
        runId,
        landscape,
        source: pipeline.source,
        sourceNodeId,
        steps,
        sinkNodeIds,
        defaultSink: pipeline.defaultSink,
        fatal
      }

      /**
       * One batch of processed rows, in source order: their journaled records in one Landscape
       * transaction, then the sink writes, then the token outcomes, then the events (Landscape first).
       */
      const writeBatch = (processed: ReadonlyArray<Processed>) =>
        Effect.gen(function* () {
          const records = emptyBatch()
          const bySink = new Map<string, Array<unknown>>()
          for (const { journal, outcome } of processed) {
            journal.drainInto(records)
            const sink = outcome._tag === "Routed" ? outcome.sink : "quarantine"
            const rows = bySink.get(sink) ?? []
            rows.push(outcome._tag === "Routed" ? outcome.value : outcome.row)
            bySink.set(sink, rows)
          }
          yield* landscape.recordBatch(records)
          for (const [sink, rows] of bySink) {
            yield* Effect.provideService(writers.get(sink)!.write(rows), CallScope, operations.get(sink)!)
          }
          const completedAt = Date.now()
          const ends = processed.map(({ outcome }) => {
            const routed = outcome._tag === "Routed"
            const sink = routed ? outcome.sink : "quarantine"
            return {
              rowId: routed ? outcome.rowId : outcome.row.rowId,
              tokenId: routed ? outcome.tokenId : outcome.row.tokenId,
              outcome: routed ? "routed" as const : "quarantined" as const,
              sink,
              sinkNodeId: routed ? sinkNodeIds.get(sink)! : quarantineNodeId,
              completedAt
            }
          })
          yield* landscape.completeTokens(ends)
          const base = yield* stamp
          for (let i = 0; i < processed.length; i++) {
            const end = ends[i]!
            if (end.outcome === "routed") counts.perSink[end.sink] = (counts.perSink[end.sink] ?? 0) + 1
            else counts.quarantined += 1
            for (const event of processed[i]!.journal.events) yield* telemetry.emit(event)
            yield* telemetry.emit({
              _tag: "TokenCompleted",
              ...base,
              rowId: end.rowId,
              tokenId: end.tokenId,
              nodeId: end.sinkNodeId,
              sink: end.sink,
              outcome: end.outcome
            })
          }
          if (options.onProgress) {
            yield* options.onProgress({ runId, rowsDone: counts.read, quarantined: counts.quarantined, elapsedMs: performance.now() - t0 })
          }
        })

      yield* phase("processing")
      yield* pipeline.source.records.pipe(
        Stream.provideService(CallScope, sourceOp),
        Stream.zipWithIndex,
        Stream.mapEffect(([record, index]) => {
          counts.read += 1
          return processRow(ctx, record, index)
        }, { concurrency: Math.max(1, options.concurrency ?? 4) }),
        Stream.groupedWithin(Math.max(1, options.batchSize ?? 256), options.batchWindow ?? "1 second"),
        Stream.runForEach((chunk) => writeBatch(Chunk.toReadonlyArray(chunk))),
        Effect.onError((cause) =>
          finishOperations("failed", Cause.isInterruptedOnly(cause) ? "interrupted" : String(Cause.squash(cause))).pipe(Effect.ignore)
        )
      )
      yield* phase("finalizing")
      yield* finishOperations("completed")
    }).pipe(Effect.scoped)

    const recordFailure = (cause: Cause.Cause<unknown>) =>
      Effect.gen(function* () {
        const durationMs = performance.now() - t0
        const error = Cause.isInterruptedOnly(cause) ? undefined : Cause.squash(cause)
        const message = error === undefined ? "interrupted" : error instanceof Error ? error.message : String(error)
        yield* landscape.finishRun({
          runId, status: "failed", finishedAt: Date.now(), durationMs, rowsRead: counts.read, rowsQuarantined: counts.quarantined, error: message
        }).pipe(Effect.catchAll((e) => Effect.logError("Landscape: could not record the run's failure", e)))
        yield* telemetry.emit({
          _tag: "RunFinished",
          ...(yield* stamp), status: "failed", durationMs, rowsRead: counts.read, rowsQuarantined: counts.quarantined, error: message
        })
      })
    yield* Effect.onError(body, recordFailure)
    const durationMs = performance.now() - t0
    const finishedAt = Date.now()
    const llm = yield* landscape.llmUsage(runId)
    yield* landscape.finishRun({
      runId, status: "completed", finishedAt, durationMs, rowsRead: counts.read, rowsQuarantined: counts.quarantined
    })
    yield* telemetry.emit({
      _tag: "RunFinished",
      ...(yield* stamp), status: "completed", durationMs, rowsRead: counts.read, rowsQuarantined: counts.quarantined
    })
    return {
      runId,
      pipeline: pipeline.name,
      status: "completed",
      rowsRead: counts.read,
      rowsPerSink: counts.perSink,
      quarantined: counts.quarantined,
      durationMs,
      telemetryEnabled: telemetry.enabled,
      llm
    } satisfies RunSummary
  }).pipe(Effect.withSpan("sightline.run", { attributes: { "sightline.pipeline": pipeline.name } })) as Effect.Effect<
    RunSummary,
    RunError,
    Landscape | Telemetry | Exclude<R, CallScope>
  >
