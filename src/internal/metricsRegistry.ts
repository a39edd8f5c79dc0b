/**
 * Units and descriptions of the metrics defined through `PipelineMetric` (Effect's `MetricKey` has
 * no unit field), read by the OTLP and Prometheus exporters.
 *
 * @internal
 */

export interface Definition {
  readonly name: string
  /** UCUM unit (`s`, `By`, `1`) or an annotation in braces (`{row}`). */
  readonly unit: string
  readonly description: string
}

const registry = new Map<string, Definition>()

/** Records a definition; throws a `TypeError` when the name is already defined with another unit. */
export const register = (definition: Definition): void => {
  const known = registry.get(definition.name)
  if (known !== undefined && known.unit !== definition.unit) {
    throw new TypeError(`metric "${definition.name}" is already defined with unit "${known.unit}", not "${definition.unit}"`)
  }
  registry.set(definition.name, definition)
}

/** The unit of a metric defined through `PipelineMetric`; `""` for any other metric. */
export const unitOf = (name: string): string => registry.get(name)?.unit ?? ""

export const definitionOf = (name: string): Definition | undefined => registry.get(name)
