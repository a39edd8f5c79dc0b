import { defineConfig } from "vitest/config"

export default defineConfig({
  // README blocks import "sightline": inside this repository it resolves to src/ through this export condition.
  resolve: { conditions: ["sightline-source"] },
  ssr: { resolve: { conditions: ["sightline-source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    // A throwaway PostgreSQL server for the Landscape conformance suite (test/support/postgres.ts).
    globalSetup: ["test/support/postgres.ts"],
    environment: "node",
    testTimeout: 30_000
  }
})
