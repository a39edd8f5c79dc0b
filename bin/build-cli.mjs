/**
 * Bundles the `sightline` command (src/cli/main.ts) into one CommonJS file, dist/cli/sightline.cjs,
 * with esbuild: one module to load instead of several hundred, which is what keeps `sightline
 * explain` within its start-up budget (bench/landscape-read.ts, "cli-explain"); CommonJS so that
 * `bin/sightline.mjs` can keep V8's compiled code for it (`vm.Script` cached data). better-sqlite3
 * stays external (native code). Written to a temporary file and renamed, so concurrent builds are safe.
 *
 *   node bin/build-cli.mjs       (also `npm run build:cli`, and run by `prepack`)
 */
import { mkdirSync, readFileSync, renameSync } from "node:fs"
import process from "node:process"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export const root = join(dirname(fileURLToPath(import.meta.url)), "..")
export const bundlePath = join(root, "dist", "cli", "sightline.cjs")

export const buildCli = async () => {
  const esbuild = await import("esbuild")
  mkdirSync(dirname(bundlePath), { recursive: true })
  const temporary = `${bundlePath}.${process.pid}.tmp`
  await esbuild.build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    outfile: temporary,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    legalComments: "none",
    external: ["better-sqlite3"],
    // `import.meta.url` has no meaning in CommonJS (esbuild leaves it undefined); the Landscape's
    // checkpointer resolves better-sqlite3 from it, so the bundle defines it from its own file name.
    banner: { js: "const __sightlineImportMetaUrl = require(\"node:url\").pathToFileURL(__filename).href;" },
    define: {
      "import.meta.url": "__sightlineImportMetaUrl",
      __SIGHTLINE_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version)
    },
    logLevel: "error"
  })
  renameSync(temporary, bundlePath)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await buildCli()
