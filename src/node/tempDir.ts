import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../utils/process.js";

/** The folder under the data directory that holds the nodes' temporary files. */
export const TEMP_FOLDER = "tmp";

/**
 * Folders that nodes of this process hold now. A process-wide fact rather than configuration:
 * a second in-process node (tests) must not sweep the first one's folder.
 */
const held = new Set<string>();

/**
 * Make a node's temporary folder, <datadir>/tmp/<pid>-<random>, after sweeping every entry there
 * that no running node holds: a node killed with SIGKILL leaves its segments and clips behind,
 * and the next start removes them. A folder of another live process (a second node on the same
 * data directory) stays. In a container the new process often has the old one's pid, so a
 * folder with our own pid is ours to remove unless a node of this process holds it.
 */
export function createNodeTempDir(datadir: string): string {
  const root = join(datadir, TEMP_FOLDER);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    const m = /^(\d+)-/.exec(name);
    const owner = m ? Number(m[1]) : null;
    if (owner !== null && owner !== process.pid && isAlive(owner)) continue;
    if (held.has(path)) continue;
    rmSync(path, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(root, `${process.pid}-`));
  held.add(dir);
  return dir;
}

/** Remove a node's temporary folder at stop. */
export function removeNodeTempDir(dir: string): void {
  held.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
