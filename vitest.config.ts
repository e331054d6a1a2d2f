import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    // A TMPDIR per run, checked empty at the end; every file removes what it made.
    globalSetup: ["test/globalSetup.ts"],
    setupFiles: ["test/setup.ts"],
  },
});
