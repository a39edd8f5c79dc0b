/**
 * The airport-stats pipeline: the main job's flights through a DAG, to delay statistics per
 * origin airport for every window of 500 consecutive departures (the flights are in departure
 * order, about 2.3 days per window in `flights-20k.json`).
 *
 *   source        flights-20k.json           { date, delay, distance, origin, destination }
 *   1 validate    2 derive                   the main job's steps (examples/flights)
 *   fork-join "lookups"                      two enrichments of each flight at once:
 *     origin        origin_airport           the origin's city and state (unknown airport → quarantined)
 *     route         route                    the destination's city, great-circle miles, distance band
 *   coalesce "enriched"                      both must arrive (requireAll); their fields merged (union)
 *   aggregate "window_stats"                 every 500 flights, and the rest at the end of the source:
 *                                            per origin airport, flights, mean and 90th-percentile delay,
 *                                            share delayed ≥ 15 min (the BTS on-time definition), mean miles
 *   expand "per_airport"                     one row per airport of the window
 *   sinks         airport_windows.csv · quarantine.jsonl
 */
import { Effect } from "effect"
import { join } from "node:path"
import { Pipeline, Sink, Source } from "../../src/index.js"
import { type Airport, dataDir, type Derived, derive, Flight, greatCircleMiles, loadAirports, UnknownAirport, validate } from "../flights/pipeline.js"

/** Flights per window: a count trigger, so each window holds the same flights in every run (and after a resume). */
export const windowSize = 500

/** US DOT distance bands (statute miles), as the BTS "distance group" of 500-mile steps, coarsened. */
const band = (miles: number) => (miles < 500 ? "short" : miles < 1500 ? "medium" : "long")

const originAirport = (airports: ReadonlyMap<string, Airport>) =>
  Pipeline.makeTransform("origin_airport", (f: Derived) => {
    const origin = airports.get(f.origin)
    if (!origin) return Effect.fail(new UnknownAirport({ iata: f.origin, message: `origin ${f.origin} is not in airports.csv` }))
    return Effect.succeed({ ...f, originCity: origin.city, originState: origin.state })
  }, { config: { lookup: "airports.csv" } })

const route = (airports: ReadonlyMap<string, Airport>) =>
  Pipeline.makeTransform("route", (f: Derived) => {
    const origin = airports.get(f.origin)
    const destination = airports.get(f.destination)
    if (!origin || !destination) {
      const iata = origin ? f.destination : f.origin
      return Effect.fail(new UnknownAirport({ iata, message: `${iata} is not in airports.csv` }))
    }
    const miles = Math.round(greatCircleMiles(origin, destination))
    return Effect.succeed({ ...f, destinationCity: destination.city, greatCircleMiles: miles, band: band(miles) })
  }, { config: { lookup: "airports.csv", bands: { short: "< 500 mi", medium: "< 1500 mi", long: "≥ 1500 mi" } } })

/** A flight with both enrichments (the coalesce's union). */
export interface Enriched extends Derived {
  readonly originCity: string
  readonly originState: string
  readonly destinationCity: string
  readonly greatCircleMiles: number
  readonly band: string
}

/** One row of `airport_windows.csv`: one origin airport in one window. Delays in minutes, distances in miles. */
export interface AirportWindow {
  /** The window's first and last departure (ISO 8601): windows are named by their span, so a resumed run names them the same. */
  readonly from: string
  readonly to: string
  readonly origin: string
  readonly city: string
  readonly flights: number
  readonly meanDelayMin: number
  readonly p90DelayMin: number
  readonly delayedPct: number
  readonly meanMiles: number
}

/** The nearest-rank percentile `p` (0–100) of `sorted` (ascending, not empty). */
const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!

const round1 = (x: number) => Math.round(x * 10) / 10

/** Per origin airport statistics of one window (airports in descending order of flights, then by code). */
export const statsOf = (flights: ReadonlyArray<Enriched>): ReadonlyArray<AirportWindow> => {
  const byOrigin = new Map<string, Array<Enriched>>()
  for (const f of flights) {
    const list = byOrigin.get(f.origin)
    if (list === undefined) byOrigin.set(f.origin, [f])
    else list.push(f)
  }
  const from = flights[0]!.departure
  const to = flights[flights.length - 1]!.departure
  return [...byOrigin.entries()]
    .sort(([a, x], [b, y]) => y.length - x.length || (a < b ? -1 : 1))
    .map(([origin, list]) => {
      const delays = list.map((f) => f.delay).sort((a, b) => a - b)
      return {
        from,
        to,
        origin,
        city: list[0]!.originCity,
        flights: list.length,
        meanDelayMin: round1(delays.reduce((s, d) => s + d, 0) / delays.length),
        p90DelayMin: percentile(delays, 90),
        delayedPct: round1((100 * delays.filter((d) => d >= 15).length) / delays.length),
        meanMiles: Math.round(list.reduce((s, f) => s + f.greatCircleMiles, 0) / list.length)
      }
    })
}

export interface AirportStatsOptions {
  /** Data file under vega-datasets' data folder, or an absolute path. Default `flights-20k.json`. */
  readonly flights?: string
  /** Output folder. Default `out/airport-stats`. */
  readonly outDir?: string
}

export const makePipeline = (options: AirportStatsOptions = {}) => {
  const outDir = options.outDir ?? join("out", "airport-stats")
  const file = options.flights ?? "flights-20k.json"
  const path = file.startsWith("/") ? file : join(dataDir, file)
  const airports = loadAirports()
  return Pipeline.make({ name: "airport-stats", source: Source.json({ name: "flights", path, schema: Flight }) }).pipe(
    Pipeline.transform(validate),
    Pipeline.transform(derive),
    Pipeline.forkJoin({
      name: "lookups",
      branches: {
        origin: (b) => b.pipe(Pipeline.transform(originAirport(airports))),
        route: (b) => b.pipe(Pipeline.transform(route(airports)))
      },
      coalesce: { name: "enriched", policy: Pipeline.requireAll, merge: "union" }
    }),
    Pipeline.aggregate(Pipeline.makeAggregate("window_stats", { trigger: { count: windowSize }, config: { statistics: "per origin airport", percentile: "nearest rank" } },
      (flights: ReadonlyArray<Enriched>) => Effect.sync(() => statsOf(flights)))),
    Pipeline.expand(Pipeline.makeExpand("per_airport", (rows: ReadonlyArray<AirportWindow>) => Effect.succeed(rows))),
    Pipeline.toSinks({
      sinks: { airport_windows: Sink.csv<AirportWindow>({ path: join(outDir, "airport_windows.csv") }) },
      default: "airport_windows",
      quarantine: Sink.jsonLines({ path: join(outDir, "quarantine.jsonl") })
    })
  )
}
