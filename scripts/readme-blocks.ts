/**
 * Extracts every TypeScript block of README.md into `test/readme/blocks/`, so that `npm test`
 * type-checks each one (tsc) and runs it (test/readme.test.ts), the way Effect checks the examples
 * of its docs. A block's info string says what it is:
 *
 * - ```` ```ts ```` a program: type-checked, then run with `node` in a fresh folder (it must exit 0);
 * - ```` ```ts test ```` a test file: type-checked and run by vitest;
 * - ```` ```ts types ```` type-checked only (e.g. a `@ts-expect-error` showing what does not compile).
 *
 * Blocks import Sightline as `"sightline"`, as users do; inside this repository that name resolves
 * to `src/index.ts` through the `sightline-source` export condition (tsconfig `customConditions`,
 * vitest `resolve.conditions`, `node --conditions`).
 *
 * Usage: node --import tsx scripts/readme-blocks.ts [--check]  (--check: fail if the extracted files are stale)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export type Kind = "program" | "test" | "types"

export interface Block {
  readonly index: number
  /** 1-based line of the opening fence in README.md. */
  readonly line: number
  readonly kind: Kind
  readonly code: string
  /** File name under test/readme/blocks/. */
  readonly file: string
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
export const blocksDir = join(root, "test", "readme", "blocks")

/** The TypeScript blocks of `markdown`, in order. */
export const parseBlocks = (markdown: string): ReadonlyArray<Block> => {
  const lines = markdown.split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(?:\s+(\w+))?\s*$/.exec(lines[i]!)
    if (open === null) continue
    const kind = open[2] === undefined ? "program" : open[2]
    if (kind !== "program" && kind !== "test" && kind !== "types") {
      throw new Error(`README.md line ${i + 1}: unknown block kind "${kind}" (use ts, ts test or ts types)`)
    }
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
    if (i === lines.length) throw new Error(`README.md line ${start + 1}: the block is not closed`)
    const index = blocks.length + 1
    const name = `block-${String(index).padStart(2, "0")}-line-${start + 1}`
    blocks.push({ index, line: start + 1, kind, code: body.join("\n") + "\n", file: kind === "test" ? `${name}.test.ts` : `${name}.ts` })
  }
  return blocks
}

const header = (block: Block) =>
  `// Generated from README.md (line ${block.line}) by scripts/readme-blocks.ts; edit the README, not this file.\n`

/** The files the README's blocks should be extracted to, by name. */
export const expectedFiles = (markdown: string): ReadonlyMap<string, string> =>
  new Map(parseBlocks(markdown).map((b) => [b.file, header(b) + b.code]))

const main = () => {
  const expected = expectedFiles(readFileSync(join(root, "README.md"), "utf8"))
  if (process.argv.includes("--check")) {
    const actual = existsSync(blocksDir) ? readdirSync(blocksDir) : []
    const stale = [...expected].filter(([f, text]) => !existsSync(join(blocksDir, f)) || readFileSync(join(blocksDir, f), "utf8") !== text)
    const extra = actual.filter((f) => !expected.has(f))
    if (stale.length > 0 || extra.length > 0) {
      console.error(`README blocks are stale: run npm run readme:blocks (stale: ${stale.map(([f]) => f).join(", ")}; extra: ${extra.join(", ")})`)
      process.exit(1)
    }
    return
  }
  rmSync(blocksDir, { recursive: true, force: true })
  mkdirSync(blocksDir, { recursive: true })
  for (const [file, text] of expected) writeFileSync(join(blocksDir, file), text)
  console.log(`README.md: ${expected.size} TypeScript blocks extracted to test/readme/blocks/`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main()
