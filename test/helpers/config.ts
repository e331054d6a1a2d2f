import { type ConfigIO, type NodeConfig, resolveConfig } from "../../src/config/resolve.js";

/** A ConfigIO over in-memory files and env, with a fixed home directory. */
export function io(files: Record<string, string> = {}, env: Record<string, string> = {}): ConfigIO {
  return { env, readFile: (p) => files[p] ?? null, homeDir: "/home/op" };
}

/** Resolve argv that must be valid; throws with the problems otherwise. */
export function ok(argv: string[], i: ConfigIO = io()): NodeConfig {
  const r = resolveConfig(argv, i);
  if (r.kind !== "ok") throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.config;
}

/** Resolve argv that must be refused; returns its problems. */
export function problems(argv: string[], i: ConfigIO = io()): string[] {
  const r = resolveConfig(argv, i);
  if (r.kind !== "error") throw new Error(`expected error, got ${r.kind}`);
  return r.problems;
}
