/**
 * Identifiers for runs, rows, tokens, node states, routing decisions, operations and calls:
 * UUID version 7 (RFC 9562 §5.7), whose leading 48 bits are the Unix time in milliseconds. They
 * sort by creation time, and in the Landscape's B-tree indexes each insert lands at the end
 * instead of at a random page (random v4 keys made inserts the largest cost of a run).
 *
 * @internal
 */
import { v7 } from "uuid"

export const newId = (): string => v7()
