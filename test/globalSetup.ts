import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Gives the whole run its own TMPDIR (test files and the lp-node processes they spawn inherit
 * it) and fails the run when anything is left in it at the end: a test that leaks temporary
 * folders is caught here, and parallel runs on one machine do not see each other's files.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "lp-test-run-"));
  process.env["TMPDIR"] = root;
  return () => {
    const left = readdirSync(root);
    rmSync(root, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports a teardown error but still exits 0: set the status ourselves.
      process.exitCode = 1;
      throw new Error(
        `the tests left ${left.length} temporary entr${left.length === 1 ? "y" : "ies"} behind: ${left.join(", ")}`,
      );
    }
  };
}
