/**
 * The per-exporter circuit breaker: `closed` → (`failureThreshold` failed batches in a row) →
 * `open` (events routed to the exporter are counted as dropped, nothing is exported) → (after
 * `probeInterval`) → `halfOpen` (the next batch is exported once, without retries, as a probe) →
 * `closed` on success, back to `open` on failure. Pure bookkeeping: the hub drives the clock.
 *
 * @internal
 */

export type CircuitState = "closed" | "open" | "halfOpen"

export interface CircuitOptions {
  /** Failed batches in a row (after retries) that open the circuit. */
  readonly failureThreshold: number
  /** Time the circuit stays open before a probe, milliseconds. */
  readonly probeIntervalMs: number
}

export interface Circuit {
  state: CircuitState
  consecutiveFailures: number
  /** When the circuit last opened (epoch ms); 0 when it never has. */
  openedAt: number
  /** When the current outage began (first opening since the last close). */
  downSince: number
}

export const make = (): Circuit => ({ state: "closed", consecutiveFailures: 0, openedAt: 0, downSince: 0 })

/** What a batch outcome did to the circuit, for the hub to report. */
export type Transition = "none" | "opened" | "reopened" | "recovered"

export const onSuccess = (c: Circuit): Transition => {
  const was = c.state
  c.consecutiveFailures = 0
  c.state = "closed"
  return was === "closed" ? "none" : "recovered"
}

export const onFailure = (c: Circuit, options: CircuitOptions, now: number): Transition => {
  c.consecutiveFailures += 1
  if (c.state === "halfOpen") {
    c.state = "open"
    c.openedAt = now
    return "reopened"
  }
  if (c.state === "closed" && c.consecutiveFailures >= options.failureThreshold) {
    c.state = "open"
    c.openedAt = now
    c.downSince = now
    return "opened"
  }
  return "none"
}

/** Moves an open circuit to `halfOpen` once `probeInterval` has passed; returns `true` if it did. */
export const maybeProbe = (c: Circuit, options: CircuitOptions, now: number): boolean => {
  if (c.state === "open" && now - c.openedAt >= options.probeIntervalMs) {
    c.state = "halfOpen"
    return true
  }
  return false
}
