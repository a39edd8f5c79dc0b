/**
 * A local OTLP/HTTP receiver on 127.0.0.1 for the tests: records every request (path, headers,
 * body un-gzipped) and answers as the test scripts it: a status, headers and body, a hang, or a
 * dropped connection.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  readonly at: number
}

export type Reply =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: Uint8Array | string }
  | "hang"
  | "reset"

export const startReceiver = async (script: (request: Received, index: number) => Reply = () => ({ status: 200 })) => {
  const received: Array<Received> = []
  const hanging: Array<ServerResponse> = []
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const raw = Buffer.concat(chunks)
      const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw
      const request = { path: req.url ?? "", headers: req.headers, body, at: Date.now() }
      received.push(request)
      const reply = script(request, received.length - 1)
      if (reply === "hang") return void hanging.push(res)
      if (reply === "reset") return void req.socket.destroy()
      res.writeHead(reply.status, reply.headers ?? {})
      res.end(reply.body === undefined ? undefined : Buffer.from(reply.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.socket?.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** A port nothing listens on (bound, then released). */
export const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
