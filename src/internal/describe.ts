/**
 * One line for an error and the causes under it.
 *
 * @internal
 */

/**
 * The message of an error and of each cause under it, joined with ": " and without repeats
 * (`@effect/sql` says "Failed to execute statement" and keeps the driver's message in `cause`; a
 * `SourceError` says "cannot read x.json" and keeps the `ENOENT` in `cause`). At most five levels.
 */
export const describeError = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const message = typeof current === "object" && "message" in current ? String((current as { message: unknown }).message) : String(current)
    if (message !== "" && !parts.some((p) => p.includes(message))) parts.push(message)
    current = typeof current === "object" && "cause" in current ? (current as { cause: unknown }).cause : undefined
  }
  return parts.join(": ")
}
