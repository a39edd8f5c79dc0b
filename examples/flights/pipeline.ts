/**
 * The flights pipeline: 20,000 real US domestic flights (2001, from the `vega-datasets` package)
 * validated, enriched with airport data from `airports.csv`, and routed by arrival delay.
 *
 *   source  flights-20k.json        { date, delay, distance, origin, destination }
 *   1 validate   date, delay and distance in range, IATA codes well-formed
 *   2 derive     departure time (ISO 8601), hour, weekday, delay category
 *   3 enrich     origin and destination airport (name, city, state) and the great-circle distance
 *   gate delay   delay ≥ 15 min → "delayed" (the BTS on-time definition); others go on
 *   sinks        on_time → out/on_time.csv, delayed → out/delayed.jsonl, quarantine → out/quarantine.jsonl
 */
import { parse } from "csv-parse/sync"
import { Data, Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Pipeline, Sink, Source } from "../../src/index.js"

/** The folder of data files shipped by the `vega-datasets` npm package. */
export const dataDir = join(dirname(createRequire(import.meta.url).resolve("vega-datasets")), "..", "data")

/** A flight as `flights-*.json` holds it: delay in minutes (negative = early), distance in miles. */
export const Flight = Schema.Struct({
  date: Schema.String,
  delay: Schema.Number,
  distance: Schema.Number,
  origin: Schema.String,
  destination: Schema.String
})
export type Flight = typeof Flight.Type

export class InvalidFlight extends Data.TaggedError("InvalidFlight")<{ readonly field: string; readonly message: string }> {}
export class UnknownAirport extends Data.TaggedError("UnknownAirport")<{ readonly iata: string; readonly message: string }> {}

export interface Airport {
  readonly iata: string
  readonly name: string
  readonly city: string
  readonly state: string
  readonly latitude: number
  readonly longitude: number
}

/** Reads `airports.csv` (3,376 airports) into a map keyed by IATA code. */
export const loadAirports = (path = join(dataDir, "airports.csv")): ReadonlyMap<string, Airport> => {
  const rows = parse(readFileSync(path), { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>
  return new Map(rows.map((r) => [r.iata!, {
    iata: r.iata!,
    name: r.name!,
    city: r.city!,
    state: r.state!,
    latitude: Number(r.latitude),
    longitude: Number(r.longitude)
  }]))
}

const iata = /^[A-Z0-9]{3}$/
const dateFormat = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2})$/

export const validate = Pipeline.makeTransform("validate", (f: Flight) => {
  const invalid = (field: string, message: string) => Effect.fail(new InvalidFlight({ field, message }))
  const m = dateFormat.exec(f.date)
  if (!m) return invalid("date", `"${f.date}" is not YYYY/MM/DD HH:MM`)
  if (!Number.isInteger(f.delay) || Math.abs(f.delay) > 24 * 60) return invalid("delay", `${f.delay} min is not a whole number within a day`)
  if (!(f.distance > 0 && f.distance < 10_000)) return invalid("distance", `${f.distance} miles is out of range`)
  if (!iata.test(f.origin)) return invalid("origin", `"${f.origin}" is not an IATA code`)
  if (!iata.test(f.destination)) return invalid("destination", `"${f.destination}" is not an IATA code`)
  if (f.origin === f.destination) return invalid("destination", "origin and destination are the same airport")
  return Effect.succeed(f)
}, { config: { dateFormat: "YYYY/MM/DD HH:MM", maxAbsDelayMinutes: 1440 } })

const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const

/** Delay categories; 15 minutes is the US Bureau of Transportation Statistics on-time threshold. */
const category = (delay: number) => (delay < 0 ? "early" : delay < 15 ? "on_time" : delay < 60 ? "late" : "very_late")

export const derive = Pipeline.makeTransform("derive", (f: Flight) => {
  const [, y, mo, d, h, mi] = dateFormat.exec(f.date)!.map(Number) as [number, number, number, number, number, number]
  const departure = new Date(Date.UTC(y, mo - 1, d, h, mi))
  return Effect.succeed({
    ...f,
    departure: departure.toISOString(),
    hour: h,
    weekday: weekdays[departure.getUTCDay()]!,
    delayCategory: category(f.delay)
  })
}, { config: { onTimeThresholdMinutes: 15, source: "BTS on-time definition" } })

export type Derived = Effect.Effect.Success<ReturnType<typeof derive.apply>>

/** Great-circle distance in statute miles (haversine, mean Earth radius 3,958.8 mi). */
export const greatCircleMiles = (a: Airport, b: Airport) => {
  const rad = Math.PI / 180
  const dLat = (b.latitude - a.latitude) * rad
  const dLon = (b.longitude - a.longitude) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2
  return 2 * 3958.8 * Math.asin(Math.sqrt(h))
}

export const enrich = (airports: ReadonlyMap<string, Airport>) =>
  Pipeline.makeTransform("enrich", (f: Derived) => {
    const origin = airports.get(f.origin)
    if (!origin) return Effect.fail(new UnknownAirport({ iata: f.origin, message: `origin ${f.origin} is not in airports.csv` }))
    const destination = airports.get(f.destination)
    if (!destination) {
      return Effect.fail(new UnknownAirport({ iata: f.destination, message: `destination ${f.destination} is not in airports.csv` }))
    }
    return Effect.succeed({
      ...f,
      originCity: origin.city,
      originState: origin.state,
      destinationCity: destination.city,
      destinationState: destination.state,
      greatCircleMiles: Math.round(greatCircleMiles(origin, destination))
    })
  }, { config: { lookup: "airports.csv", airports: airports.size } })

export type Enriched = Effect.Effect.Success<ReturnType<ReturnType<typeof enrich>["apply"]>>

export const byDelay = Pipeline.makeGate(
  "delay",
  ["delayed"],
  (f: Enriched) => Effect.succeed(f.delay >= 15 ? "delayed" as const : Pipeline.Continue),
  { config: { delayedAtMinutes: 15 } }
)

export interface FlightsOptions {
  /** Data file under vega-datasets' data folder, or an absolute path. Default `flights-20k.json`. */
  readonly flights?: string
  /** Output folder. Default `out`. */
  readonly outDir?: string
}

export const makePipeline = (options: FlightsOptions = {}) => {
  const outDir = options.outDir ?? "out"
  const file = options.flights ?? "flights-20k.json"
  const path = file.startsWith("/") ? file : join(dataDir, file)
  return Pipeline.make({ name: "flights", source: Source.json({ name: "flights", path, schema: Flight }) }).pipe(
    Pipeline.transform(validate),
    Pipeline.transform(derive),
    Pipeline.transform(enrich(loadAirports())),
    Pipeline.gate(byDelay),
    Pipeline.toSinks({
      sinks: {
        on_time: Sink.csv<Enriched>({ path: join(outDir, "on_time.csv") }),
        delayed: Sink.jsonLines<Enriched>({ path: join(outDir, "delayed.jsonl") })
      },
      default: "on_time",
      quarantine: Sink.jsonLines({ path: join(outDir, "quarantine.jsonl") })
    })
  )
}
