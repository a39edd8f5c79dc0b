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
    files: ["examples/**", "bench/**", "scripts/**"],
    rules: { "no-console": "off" }
  }
)
