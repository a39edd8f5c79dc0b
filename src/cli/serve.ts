/**
 * `sightline serve [--db …] [--port 8080] [--host 127.0.0.1] [--token …]`: the audit browser
 * (`Dashboard`) over a Landscape opened read-only, until Ctrl-C. A host other than the loopback
 * interface requires a token (`--token`, or `SIGHTLINE_DASHBOARD_TOKEN`).
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpServer from "@effect/platform/HttpServer"
import { Config, Console, Effect, Layer, Option, Redacted } from "effect"
import * as Dashboard from "../Dashboard.js"
import { dbPath, landscapeAt } from "./context.js"

export const serve = Command.make("serve", {
  db: Options.text("db").pipe(
    Options.withDescription("Landscape: a SQLite file or a postgres:// URL (default: $SIGHTLINE_LANDSCAPE, else out/landscape.db)"),
    Options.optional
  ),
  port: Options.integer("port").pipe(Options.withDescription("TCP port (0: any free one)"), Options.withDefault(8080)),
  host: Options.text("host").pipe(Options.withDescription("interface to bind; any but loopback requires a token"), Options.withDefault("127.0.0.1")),
  token: Options.redacted("token").pipe(
    Options.withDescription("required of every request (Authorization: Bearer, or ?token= once); default $SIGHTLINE_DASHBOARD_TOKEN"),
    Options.withFallbackConfig(Config.redacted("SIGHTLINE_DASHBOARD_TOKEN")),
    Options.optional
  )
}, (o) => {
  // An empty token (SIGHTLINE_DASHBOARD_TOKEN= set to nothing) is none.
  const token = Option.filter(o.token, (t) => Redacted.value(t) !== "")
  const where = dbPath(o.db)
  const announce = Effect.flatMap(HttpServer.HttpServer, (server) =>
    Console.log(`sightline: serving ${where} (read-only) on ${HttpServer.formatAddress(server.address)}${Option.isSome(token) ? " (token required)" : ""}; Ctrl-C stops`))
  return Layer.launch(Layer.effectDiscard(announce).pipe(
    Layer.provideMerge(Dashboard.layer({ port: o.port, host: o.host, ...(Option.isSome(token) ? { token: token.value } : {}) })),
    Layer.provide(landscapeAt(where, { readonly: true }))
  ))
}).pipe(Command.withDescription("the audit browser: runs, a run's graph and nodes, a row's lineage, /metrics, /healthz (read-only)"))
