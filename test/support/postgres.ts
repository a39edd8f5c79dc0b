/**
 * Vitest global set-up: a throwaway PostgreSQL 15 cluster for the whole test run (peers.md §1):
 * `initdb` into a temporary directory (as the `postgres` user when the tests run as root, which
 * initdb refuses), `pg_ctl start` on 127.0.0.1 on a free port with `fsync=off`, stopped and deleted
 * at the end. Its URL reaches the tests through `inject("postgresUrl")`.
 *
 * `SIGHTLINE_TEST_POSTGRES_URL` (a superuser's URL) uses a running server instead. Without either,
 * the PostgreSQL half of the conformance suite is skipped, except under CI, where a missing server
 * is an error (`.ci/run` installs Debian's `postgresql`).
 */
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser's URL of the test server, without database (`postgres://postgres@127.0.0.1:PORT`); `""` when there is none. */
    postgresUrl: string
  }
}

const binaries = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/**
 * Starts a throwaway PostgreSQL cluster: `initdb` into a temporary directory (as the `postgres` user
 * when running as root, which initdb refuses), `pg_ctl start` on 127.0.0.1 on a free port with
 * `fsync=off`. Returns its superuser URL (no database) and `stop` (stops it and deletes the
 * directory); `undefined` when PostgreSQL's binaries are not installed. Also used by
 * `bench/landscape-pg.ts`.
 */
export const startCluster = async (): Promise<{ readonly url: string; readonly stop: () => void } | undefined> => {
  const bin = binaries.find((dir) => existsSync(join(dir, "initdb")))
  if (bin === undefined) return undefined
  const root = mkdtempSync(join(tmpdir(), "sightline-pg-"))
  chmodSync(root, 0o777)
  const data = join(root, "data")
  const port = await freePort()
  const asRoot = process.getuid?.() === 0
  const run = (command: string, args: ReadonlyArray<string>) => {
    const file = join(bin, command)
    const result = asRoot
      ? spawnSync("su", ["postgres", "-c", [file, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ")], { encoding: "utf8" })
      : spawnSync(file, args, { encoding: "utf8" })
    if (result.status !== 0) throw new Error(`${command} failed (${result.status}): ${result.stderr || result.stdout}`)
  }
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`
  run("pg_ctl", ["-D", data, "-l", join(root, "server.log"), "-o", options, "-w", "start"])
  return {
    url: `postgres://postgres@127.0.0.1:${port}`,
    stop: () => {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    }
  }
}

export default async function setup(project: TestProject) {
  const given = process.env["SIGHTLINE_TEST_POSTGRES_URL"]
  if (given !== undefined && given !== "") {
    const server = new URL(given)
    server.pathname = ""
    project.provide("postgresUrl", server.toString().replace(/\/$/, ""))
    return
  }
  const cluster = await startCluster()
  if (cluster === undefined) {
    if (process.env["CI"] !== undefined) throw new Error("CI must have PostgreSQL (apt-get install postgresql): the conformance suite runs on it")
    console.warn("PostgreSQL not found (apt-get install postgresql, or set SIGHTLINE_TEST_POSTGRES_URL): its half of the Landscape conformance suite is skipped")
    project.provide("postgresUrl", "")
    return
  }
  project.provide("postgresUrl", cluster.url)
  return cluster.stop
}
