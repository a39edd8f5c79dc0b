/**
 * HTML for the dashboard's pages: a tagged template that escapes every interpolated value (row data,
 * node names, error messages are all untrusted), and the page layout. A value is inserted unescaped
 * only when it is itself `Html` (made by this template), so nothing from the Landscape can become
 * markup, an attribute or a script.
 *
 * @internal
 */

/** Markup made by {@link html}: safe to insert as it is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;", "`": "&#96;" }

/** Text escaped for an HTML text node or a quoted attribute value (OWASP's rule: & < > " ' and `). */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (c) => entities[c]!)

type Value = Html | string | number | boolean | null | undefined | ReadonlyArray<Value>

const render = (value: Value): string =>
  value === null || value === undefined || value === false
    ? ""
    : value instanceof Html
    ? value.text
    : Array.isArray(value)
    ? value.map(render).join("")
    : escape(String(value))

/** `html\`<td>${name}</td>\``: every interpolation escaped, unless it is `Html`; arrays joined; null, undefined and false left out. */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Value>): Html => {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** A path with its segments percent-encoded: `/runs/${id}` for any id. */
export const path = (...segments: ReadonlyArray<string>): string => "/" + segments.map(encodeURIComponent).join("/")

const style = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b2a41;color:#fff;padding:10px 20px}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:16px 20px;max-width:1200px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:20px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%}th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td{overflow-wrap:break-word}
.status{padding:1px 6px;border-radius:3px;font-size:12px}.completed,.success,.ok,.routed,.coalesced,.consumed_in_batch,.forked,.expanded{background:#d8f3dc}
.failed,.error,.quarantined{background:#ffd6d6}.running{background:#dbe9ff}.interrupted{background:#fff1c2}
code,pre{font:12px ui-monospace,monospace}pre{background:#fff;border:1px solid #e3e6ea;padding:8px;overflow:auto;max-height:320px}
.muted{color:#5b6570}form{margin:0 0 12px}form.inline{display:inline;margin:0}svg{background:#fff;border:1px solid #e3e6ea}.graph{overflow-x:auto}
`

/**
 * How often a page following a run fetches itself again, ms: half a second, so that a commit shows
 * within 1 s (issue 14) with the page's own time to spare (measured: `npm run bench -- dashboard`, live).
 */
export const followIntervalMs = 500

/**
 * The script of a page that follows a run in progress: every half second it fetches the page again and
 * swaps its `#page` part in (the events panel stays), until no run on it is `running` and no
 * verification is waiting or running; and, where
 * the page has an `#events` list, it appends the run's events from `<path>/events` (Server-Sent
 * Events) as text, the 50 most recent, and shows the exporters' health. Without script, the page
 * reloads itself every second instead (`<noscript>`).
 */
const follow = `(() => {
  const running = () => document.querySelector("#page [data-status=running], #page [data-verification=running], #page [data-verification=waiting]") !== null
  const refresh = async () => {
    if (!running()) return
    try {
      const response = await fetch(location.href, { headers: { accept: "text/html" } })
      const next = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("#page")
      if (next !== null) document.querySelector("#page").replaceWith(next)
    } finally {
      setTimeout(refresh, ${followIntervalMs})
    }
  }
  setTimeout(refresh, ${followIntervalMs})
  const list = document.querySelector("#events")
  if (list === null) return
  const source = new EventSource(location.pathname + "/events")
  source.addEventListener("telemetry", (m) => {
    const e = JSON.parse(m.data)
    const item = document.createElement("li")
    item.textContent = new Date(e.timestamp).toISOString().slice(11, 23) + " " + e._tag + (e.rowIndex === undefined ? "" : " row " + e.rowIndex) + (e.status === undefined ? "" : " " + e.status)
    list.prepend(item)
    while (list.children.length > 50) list.lastElementChild.remove()
    if (e._tag === "RunFinished") source.close()
  })
  source.addEventListener("health", (m) => {
    const h = JSON.parse(m.data)
    document.querySelector("#health").textContent = h.status + ": " + Object.entries(h.exporters ?? {}).map(([name, x]) => name + " " + x.status).join(", ")
  })
})()`

/** A whole page: title, the header linking back to the runs, and `body`; with `follow`, the script that keeps it current (a run in progress). */
export const page = (title: string, body: Html, options: { readonly follow?: boolean } = {}): string =>
  "<!doctype html>" + html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${options.follow === true ? new Html(`<noscript><meta http-equiv="refresh" content="1"></noscript>`) : null}
<title>${title} · Sightline</title><style>${new Html(style)}</style></head>
<body><header><a href="/">Sightline</a> <span class="muted">audit browser (read-only)</span></header>
<main>${body}</main>${options.follow === true ? new Html(`<script>${follow}</script>`) : null}</body></html>`.text

/** A status as a coloured label. */
export const status = (s: string | null): Html => (s === null ? html`<span class="muted">-</span>` : html`<span class="status ${s}" data-status="${s}">${s}</span>`)
