/**
 * Sightline: typed telemetry and an audit trail (the Landscape) for data pipelines, on Effect 3.
 * One namespace per module, as in Effect's own packages.
 *
 * @since 0.1.0
 */

/** The call context of audited clients: a node state or an operation. @since 0.1.0 */
export * as CallScope from "./CallScope.js"
/** Exporter interface and constructor. @since 0.1.0 */
export * as Exporter from "./Exporter.js"
/** Console exporter: one readable line per event. @since 0.1.0 */
export * as ConsoleExporter from "./ConsoleExporter.js"
/** JSON Lines file exporter. @since 0.1.0 */
export * as JsonLinesExporter from "./JsonLinesExporter.js"
/** OTLP/HTTP export of logs, spans and metrics. @since 0.2.0 */
export * as OtlpExporter from "./OtlpExporter.js"
/** Prometheus text format 0.0.4 on /metrics. @since 0.2.0 */
export * as PrometheusExporter from "./PrometheusExporter.js"
/** In-memory exporter with assertions, for tests. @since 0.1.0 */
export * as TestExporter from "./TestExporter.js"
/** The audit trail service. @since 0.1.0 */
export * as Landscape from "./Landscape.js"
/** The Landscape on PostgreSQL. @since 0.3.0 */
export * as LandscapePg from "./LandscapePg.js"
/** The Landscape on embedded SQLite (the default store). @since 0.1.0 */
export * as LandscapeSqlite from "./LandscapeSqlite.js"
/** Runs pipelines. @since 0.1.0 */
export * as Orchestrator from "./Orchestrator.js"
/** The audit browser (`sightline serve`): runs, a run's graph and nodes, a row's lineage. @since 0.5.0 */
export * as Dashboard from "./Dashboard.js"
/** A pipeline with its layer, resumable from the command line (`sightline resume`). @since 0.5.0 */
export * as Job from "./Job.js"
/** One run over several worker processes: partitions, leases, checkpoints. @since 0.3.0 */
export * as DistributedRun from "./DistributedRun.js"
/** Pipeline definition: source, transforms, gates, sinks. @since 0.1.0 */
export * as Pipeline from "./Pipeline.js"
/** File sinks. @since 0.1.0 */
export * as Sink from "./Sink.js"
/** File and in-memory sources. @since 0.1.0 */
export * as Source from "./Source.js"
/** The telemetry service and its layers. @since 0.1.0 */
export * as Telemetry from "./Telemetry.js"
/** The hub's accounting and health models. @since 0.2.0 */
export * as TelemetryStats from "./TelemetryStats.js"
/** The event catalogue. @since 0.1.0 */
export * as TelemetryEvent from "./TelemetryEvent.js"
/** Sightline metrics: the naming rule, units, labels, the catalogue. @since 0.2.0 */
export * as PipelineMetric from "./PipelineMetric.js"
/** W3C Trace Context and Baggage: parse, format, propagate, HTTP middleware. @since 0.2.0 */
export * as TraceContext from "./TraceContext.js"
/** HttpClient that records every request in the Landscape, then emits. @since 0.1.0 */
export * as AuditedHttpClient from "./AuditedHttpClient.js"
/** Versioned LLM price table and per-call cost. @since 0.1.0 */
export * as Pricing from "./Pricing.js"
/** LLM calls (on @effect/ai LanguageModel) recorded with token usage and cost, then emitted. @since 0.1.0 */
export * as AuditedLlmClient from "./AuditedLlmClient.js"
/** JSON records from a paged HTTP API (next link or cursor), each page an audited call. @since 0.1.0 */
export * as HttpSource from "./HttpSource.js"
/** Database sink on @effect/sql: batched multi-row INSERTs in a transaction, each statement an audited call. @since 0.1.0 */
export * as SqlSink from "./SqlSink.js"
