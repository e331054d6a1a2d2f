import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Folders tempDir made in this test file, removed by the setup file's afterAll. */
const made: string[] = [];

/**
 * A fresh folder under the OS temp dir, removed after the test file (test/setup.ts calls
 * removeTempDirs), so no test has to remember to clean up.
 */
export function tempDir(prefix = "lp-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Remove every folder tempDir made so far. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
