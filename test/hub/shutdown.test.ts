/**
 * Shutdown in a real process: SIGINT / SIGTERM mid-run; the JSON-lines file must hold exactly the
 * events the stats say were exported, every line whole, and under `block` nothing is lost.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { type TelemetryStats, unaccounted } from "../../src/TelemetryStats.js"
import { decodeJson } from "../../src/TelemetryEvent.js"

const child = join(import.meta.dirname, "..", "fixtures", "telemetry-child.ts")

const runChild = (signal: NodeJS.Signals, strategy: string) =>
  new Promise<{ stats: TelemetryStats; lines: Array<string>; code: number | null }>((resolve, reject) => {
    const file = join(mkdtempSync(join(tmpdir(), "sightline-child-")), "events.jsonl")
    const proc = spawn(process.execPath, ["--import", "tsx", child, file, strategy], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    let sent = false
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      if (!sent && out.includes("ready\n")) {
        sent = true
        setTimeout(() => proc.kill(signal), 50)
      }
    })
    proc.stderr.on("data", (d: Buffer) => (err += d.toString()))
    proc.on("error", reject)
    proc.on("close", (code) => {
      const statsLine = out.split("\n").find((l) => l.startsWith("{"))
      if (statsLine === undefined) return reject(new Error(`no stats from child (code ${code}): ${err}`))
      const text = readFileSync(file, "utf8")
      resolve({ stats: (JSON.parse(statsLine) as { stats: TelemetryStats }).stats, lines: text.split("\n"), code })
    })
  })

describe("shutdown in a child process", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    for (const strategy of ["block", "drop"] as const) {
      it(`${signal} under ${strategy}: the file holds exactly the exported events, no torn line`, async () => {
        const { stats, lines } = await runChild(signal, strategy)
        expect(lines.at(-1)).toBe("") // the file ends with a newline: no torn last line
        const events = lines.slice(0, -1).map((l) => decodeJson(l)) // throws on a torn or invalid line
        const jsonl = stats.exporters.jsonl!
        expect(events.length).toBe(jsonl.exported)
        expect(unaccounted(stats, "jsonl")).toBe(0)
        expect(jsonl.exported).toBeGreaterThan(0)
        if (strategy === "block") {
          expect(jsonl.exported).toBeGreaterThan(4000)
          expect(jsonl.exported).toBe(stats.emitted - stats.filtered - stats.sampledOut) // nothing lost
        }
      }, 60_000)
    }
  }
})
