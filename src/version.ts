import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** lp-node's version from package.json (dist/src/version.js sits two levels below the root). */
export const VERSION: string = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ["../../package.json", "../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(resolve(here, rel), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "lp-node" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return "0.0.0";
})();
