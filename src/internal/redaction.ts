/**
 * Redaction of secrets in headers, URL query parameters, JSON bodies and free text (DESIGN.md
 * invariant 8: no secret leaves the process). Audited clients redact before anything is stored in
 * the Landscape, exported as telemetry or logged; the values a redaction removed are also kept so
 * that free text derived from the request (an error message that quotes the URL, a body that is
 * not valid JSON) can be scrubbed of them.
 *
 * Names match case-insensitively. Default header names follow the credentials-bearing headers of
 * RFC 9110 §11.6 (`authorization`, `proxy-authorization`), RFC 6265 (`cookie`, `set-cookie`) and
 * the API-key headers common providers use (`x-api-key`, `api-key`).
 *
 * @internal
 */

/** Options of {@link make}. Every list is added to the defaults unless `replaceDefaults` is set. */
export interface RedactionOptions {
  /** Header names whose values are replaced. Default {@link defaultHeaders}. */
  readonly headers?: ReadonlyArray<string>
  /** URL query (and form-urlencoded body) parameter names whose values are replaced. Default {@link defaultQueryParams}. */
  readonly queryParams?: ReadonlyArray<string>
  /** JSON object keys (at any depth) whose values are replaced. Default {@link defaultBodyFields}. */
  readonly bodyFields?: ReadonlyArray<string>
  /** Use only the names given here, not the defaults. Default `false`. */
  readonly replaceDefaults?: boolean
  /** What replaces a secret. Default `"[REDACTED]"`. */
  readonly placeholder?: string
}

export const defaultHeaders: ReadonlyArray<string> = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "x-auth-token",
  "x-goog-api-key"
]

export const defaultQueryParams: ReadonlyArray<string> = [
  "api_key",
  "apikey",
  "api-key",
  "key",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "client_secret",
  "password",
  "secret",
  "sig",
  "signature",
  "x-amz-signature",
  "x-amz-security-token"
]

export const defaultBodyFields: ReadonlyArray<string> = [
  "password",
  "passwd",
  "secret",
  "api_key",
  "apikey",
  "apiKey",
  "token",
  "access_token",
  "accessToken",
  "refresh_token",
  "refreshToken",
  "id_token",
  "client_secret",
  "clientSecret",
  "authorization",
  "private_key",
  "privateKey"
]

/** A redactor: pure functions, plus the secret values it has removed so far (for {@link Redactor.scrub}). */
export interface Redactor {
  readonly placeholder: string
  /** Redacted copy of the headers (names lower-cased). */
  readonly headers: (headers: Readonly<Record<string, string>>, found: Set<string>) => Record<string, string>
  /** The URL with the values of secret query parameters (and any userinfo password) replaced. */
  readonly url: (url: string | URL, found: Set<string>) => string
  /** Redacted deep copy of a JSON value. */
  readonly json: (value: unknown, found: Set<string>) => unknown
  /** Redacts a body given as text, by content type: JSON, form-urlencoded, else scrubbed text. */
  readonly text: (text: string, contentType: string | undefined, found: Set<string>) => string
  /** Replaces every occurrence of every value in `found` (and its URL-encoded form) in `text`. */
  readonly scrub: (text: string, found: ReadonlySet<string>) => string
}

const lower = (names: ReadonlyArray<string>) => new Set(names.map((n) => n.toLowerCase()))

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Builds a redactor from options (see {@link RedactionOptions} for the defaults). */
export const make = (options: RedactionOptions = {}): Redactor => {
  const base = options.replaceDefaults === true
  const headerNames = lower([...(base ? [] : defaultHeaders), ...(options.headers ?? [])])
  const queryNames = lower([...(base ? [] : defaultQueryParams), ...(options.queryParams ?? [])])
  const fieldNames = lower([...(base ? [] : defaultBodyFields), ...(options.bodyFields ?? [])])
  const placeholder = options.placeholder ?? "[REDACTED]"
  // Fallback for JSON-looking text that does not parse (e.g. truncated): "field": "value" pairs.
  const fieldPattern = fieldNames.size === 0
    ? undefined
    : new RegExp(`("(?:${[...fieldNames].map(escapeRegExp).join("|")})"\\s*:\\s*)"((?:[^"\\\\]|\\\\.)*)"`, "gi")

  const remember = (found: Set<string>, value: string) => {
    // Very short values would scrub innocent text everywhere; they are still replaced in place.
    if (value.length >= 4) found.add(value)
  }

  const headers: Redactor["headers"] = (input, found) => {
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(input)) {
      const key = name.toLowerCase()
      if (headerNames.has(key)) {
        remember(found, value)
        // "Bearer abc" → also remember "abc"
        const space = value.indexOf(" ")
        if (space > 0) remember(found, value.slice(space + 1))
        out[key] = placeholder
      } else {
        out[key] = value
      }
    }
    return out
  }

  const params = (search: URLSearchParams, found: Set<string>) => {
    for (const [name, value] of [...search.entries()]) {
      if (queryNames.has(name.toLowerCase())) {
        remember(found, value)
        search.set(name, placeholder)
      }
    }
  }

  const url: Redactor["url"] = (input, found) => {
    let parsed: URL
    try {
      parsed = new URL(input.toString())
    } catch {
      return scrub(input.toString(), found)
    }
    if (parsed.password !== "") {
      remember(found, decodeURIComponent(parsed.password))
      parsed.password = "REDACTED"
    }
    if (parsed.search !== "") params(parsed.searchParams, found)
    // URLSearchParams percent-encodes the placeholder's brackets; keep it readable.
    return parsed.toString().replaceAll(encodeURIComponent(placeholder), placeholder)
  }

  const json: Redactor["json"] = (value, found) => {
    if (Array.isArray(value)) return value.map((v) => json(v, found))
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = {}
      for (const [key, v] of Object.entries(value)) {
        if (fieldNames.has(key.toLowerCase())) {
          collect(v, found)
          out[key] = placeholder
        } else {
          out[key] = json(v, found)
        }
      }
      return out
    }
    return value
  }

  const collect = (value: unknown, found: Set<string>): void => {
    if (typeof value === "string") remember(found, value)
    else if (typeof value === "number") remember(found, String(value))
    else if (Array.isArray(value)) value.forEach((v) => collect(v, found))
    else if (value !== null && typeof value === "object") Object.values(value).forEach((v) => collect(v, found))
  }

  const text: Redactor["text"] = (body, contentType, found) => {
    const type = (contentType ?? "").toLowerCase()
    const trimmed = body.trimStart()
    if (type.includes("json") || trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try {
        return JSON.stringify(json(JSON.parse(body), found))
      } catch {
        const replaced = fieldPattern === undefined ? body : body.replace(fieldPattern, (_m, prefix: string, value: string) => {
          remember(found, value)
          return `${prefix}"${placeholder}"`
        })
        return scrub(replaced, found)
      }
    }
    if (type.includes("application/x-www-form-urlencoded")) {
      const search = new URLSearchParams(body)
      params(search, found)
      return search.toString().replaceAll(encodeURIComponent(placeholder), placeholder)
    }
    return scrub(body, found)
  }

  const scrub: Redactor["scrub"] = (input, found) => {
    let out = input
    for (const secret of found) {
      out = out.split(secret).join(placeholder)
      const encoded = encodeURIComponent(secret)
      if (encoded !== secret) out = out.split(encoded).join(placeholder)
      const form = new URLSearchParams({ s: secret }).toString().slice(2)
      if (form !== secret && form !== encoded) out = out.split(form).join(placeholder)
    }
    return out
  }

  return { placeholder, headers, url, json, text, scrub }
}

/**
 * Cuts `text` to at most `maxBytes` bytes of UTF-8 without splitting a character. Returns the kept
 * text, the full size in bytes and whether anything was cut.
 */
export const cap = (text: string, maxBytes: number): { readonly text: string; readonly bytes: number; readonly truncated: boolean } => {
  const buffer = Buffer.from(text, "utf8")
  if (buffer.length <= maxBytes) return { text, bytes: buffer.length, truncated: false }
  let end = Math.max(0, maxBytes)
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (buffer[end]! & 0xc0) === 0x80) end--
  return { text: buffer.subarray(0, end).toString("utf8"), bytes: buffer.length, truncated: true }
}
