/**
 * The event every hub benchmark emits, and the same data as the attributes the peers (OTel SDK
 * spans, pino log lines) carry: 7 fields, two of them fresh strings per event.
 */
import type { RowCreated } from "../src/TelemetryEvent.js"

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
const SPAN = "00f067aa0ba902b7"
const HASH = "e3b0c44298fc1c149afbfc8996fb92427ae41e4649b934ca495991b7852b855"

/** Built the way the engine builds its own events: an object literal, its fields checked by the compiler. */
export const rowEvent = (i: number): RowCreated => ({
  _tag: "RowCreated",
  timestamp: 1_700_000_000_000 + i,
  runId: "run-1",
  traceId: TRACE,
  spanId: SPAN,
  rowId: "row-" + i,
  tokenId: "tok-" + i,
  nodeId: "source",
  rowIndex: i,
  contentHash: HASH
})

/** `rowEvent(i)`'s data as span / log attributes. */
export const attrs = (i: number) => ({
  "run.id": "run-1",
  "row.id": "row-" + i,
  "token.id": "tok-" + i,
  "node.id": "source",
  "row.index": i,
  "content.hash": HASH,
  timestamp: 1_700_000_000_000 + i
})
