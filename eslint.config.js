// @ts-check
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/", "out/", "node_modules/", "coverage/", "scratch/", "test/readme/blocks/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-explicit-any": "error",
      // `export interface RunStarted extends Schema.Schema.Type<typeof RunStarted> {}`: Effect's idiom for naming a schema's type.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }],
      "require-yield": "off",
      "no-console": ["error", { allow: ["warn", "error"] }]
    }
  },
  {
    // A package's index loads every module of it: `@effect/platform`'s brings the Swagger and Scalar
    // bundles (about 20 MB of strings, measured in a heap snapshot), so importing Sightline cost 63 MB
    // of heap and 1.5 s instead of 37 MB. Value imports name the module (`@effect/platform/HttpClient`).
    files: ["src/**"],
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", {
        paths: ["@effect/platform", "@effect/platform-node", "@effect/sql", "@effect/sql-sqlite-node", "@effect/sql-pg", "@effect/ai", "@effect/cli", "@effect/cluster", "@effect/rpc"].map((name) => ({
          name,
          message: `import the module (\`${name}/<Module>\`): the package index loads all of ${name}.`,
          allowTypeImports: true
        }))
      }]
    }
  },
  {
    files: ["examples/**", "bench/**", "scripts/**"],
    rules: { "no-console": "off" }
  }
)
