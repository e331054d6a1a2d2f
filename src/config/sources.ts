import yargs from "yargs";
import { parseBool } from "./coerce.js";
import { FLAGS, type FlagDef, findFlag, findFlagByEnvName, unknownFlagMessage } from "./flags.js";

/**
 * A parser for a subcommand's own flags (bench, devnet), with the node's rules: no short-option
 * groups, no camel-case copies, numbers kept as text for the caller to validate.
 */
export function subcommandParser(argv: readonly string[]) {
  return yargs([...argv])
    .help(false)
    .version(false)
    .parserConfiguration({
      "short-option-groups": false,
      "camel-case-expansion": false,
      "parse-numbers": false,
      "parse-positional-numbers": false,
    });
}

/** Where a setting came from, highest precedence first. */
export type Source = "flag" | "env" | "file";

/** One raw setting before coercion: strings as typed, booleans from bare flags, lists from repeats. */
export interface RawSetting {
  flag: FlagDef;
  value: string | boolean | string[];
  source: Source;
  /** The name the user wrote (for messages): `-dataDir`, `LP_ORCHADDR`, `orchAddr` in a file. */
  spelled: string;
}

export interface ArgvResult {
  settings: RawSetting[];
  /** Positional words: a subcommand such as `bench` and its arguments. */
  positionals: string[];
  problems: string[];
}

const PARSER = {
  "short-option-groups": false,
  "camel-case-expansion": false,
  "dot-notation": false,
  "duplicate-arguments-array": true,
  "boolean-negation": false,
  "parse-numbers": false,
  "parse-positional-numbers": false,
  "strip-aliased": true,
} as const;

/**
 * Parse command-line words. go-livepeer's single-dash long flags (`-orchAddr x`, `-gateway`,
 * `-gateway=false`) are accepted exactly like their double-dash spelling.
 */
export function parseArgv(argv: readonly string[]): ArgvResult {
  const options: Record<string, { type: "boolean" | "string" }> = {};
  for (const f of FLAGS) {
    const type = f.type === "boolean" ? "boolean" : "string";
    options[f.name] = { type };
    for (const a of f.aliases ?? []) options[a] = { type };
  }
  options["h"] = { type: "boolean" };
  const parsed = yargs([...argv])
    .help(false)
    .version(false)
    .parserConfiguration(PARSER)
    .options(options)
    .strict(false)
    .exitProcess(false)
    .parseSync() as Record<string, unknown> & { _: (string | number)[] };

  const settings: RawSetting[] = [];
  const problems: string[] = [];
  // yargs reads `-flag=maybe` on a boolean as false; go's flag package refuses it, and so do we.
  for (const word of argv) {
    const m = /^--?([^=]+)=(.*)$/s.exec(word);
    const flag = m ? findFlag(m[1]!) : undefined;
    if (m && flag?.type === "boolean" && parseBool(m[2]!) === null) {
      problems.push(`-${m[1]}: "${m[2]}" is not a boolean`);
      delete parsed[m[1]!];
    }
  }
  // yargs reads a value flag with nothing after it (`-orchAddr` last, or followed by another
  // flag) as "", which would silently leave the setting at its default.
  const noValue = new Set<string>();
  argv.forEach((word, i) => {
    const m = /^--?([^=]+)$/.exec(word);
    const flag = m ? findFlag(m[1]!) : undefined;
    if (!m || !flag || flag.type === "boolean") return;
    const next = argv[i + 1];
    if (next === undefined || /^--?[A-Za-z]/.test(next)) {
      if (!noValue.has(m[1]!)) problems.push(`-${m[1]} needs a value (-${m[1]} VALUE or -${m[1]}=VALUE)`);
      noValue.add(m[1]!);
    }
  });
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "_" || key === "$0" || noValue.has(key)) continue;
    if (key === "h") {
      const help = findFlag("help")!;
      settings.push({ flag: help, value: Boolean(value), source: "flag", spelled: "-h" });
      continue;
    }
    const flag = findFlag(key);
    if (!flag) {
      problems.push(unknownFlagMessage(`-${key}`, key));
      continue;
    }
    let v = value as string | boolean | (string | boolean)[];
    if (Array.isArray(v) && flag.name !== "mode") v = v[v.length - 1] as string | boolean; // last one wins, as in go
    if (Array.isArray(v)) v = v.map(String);
    if (flag.type !== "boolean" && typeof v === "boolean") {
      problems.push(`-${key} needs a value`);
      continue;
    }
    settings.push({ flag, value: v as string | boolean | string[], source: "flag", spelled: `-${key}` });
  }
  return { settings, positionals: parsed._.map(String), problems };
}

/** Settings from `LP_<FLAGNAME>` environment variables (upper-case flag name, as go-livepeer's ff). */
export function parseEnv(env: NodeJS.ProcessEnv): RawSetting[] {
  const out: RawSetting[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("LP_") || value === undefined) continue;
    const flag = findFlagByEnvName(key.slice(3).replace(/_/g, ""));
    if (!flag || flag.name === "help" || flag.name === "version") continue;
    out.push({ flag, value, source: "env", spelled: key });
  }
  return out;
}

export interface FileResult {
  settings: RawSetting[];
  problems: string[];
}

/**
 * Settings from a config file: JSON (`{"orchAddr": "...", "transcoder": true}`) when it starts
 * with `{`, otherwise go-livepeer's plain format: one `name value` per line, split at the first
 * space, a leading `-` ignored, a bare name meaning `true`, `#` comments.
 */
export function parseConfigFile(text: string, fileName: string): FileResult {
  const trimmed = text.trim();
  return trimmed.startsWith("{") ? parseJsonConfig(trimmed, fileName) : parsePlainConfig(text, fileName);
}

function parseJsonConfig(text: string, fileName: string): FileResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { settings: [], problems: [`config file ${fileName}: invalid JSON: ${(err as Error).message}`] };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return { settings: [], problems: [`config file ${fileName}: expected a JSON object of flag names`] };
  }
  const settings: RawSetting[] = [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    const flag = findFlag(key.replace(/^-+/, ""));
    if (!flag) {
      problems.push(`config file ${fileName}: ${unknownFlagMessage(`"${key}"`, key.replace(/^-+/, ""))}`);
      continue;
    }
    let v: string | boolean | string[];
    if (typeof value === "boolean") v = value;
    else if (typeof value === "number") v = String(value);
    else if (typeof value === "string") v = value;
    else if (Array.isArray(value) && flag.name === "mode" && value.every((x) => typeof x === "string"))
      v = value;
    else if (typeof value === "object" && value !== null && flag.type === "string" && flag.name !== "mode")
      v = JSON.stringify(value);
    else {
      problems.push(`config file ${fileName}: "${key}" has a value of the wrong type`);
      continue;
    }
    settings.push({ flag, value: v, source: "file", spelled: key });
  }
  return { settings, problems };
}

function parsePlainConfig(text: string, fileName: string): FileResult {
  const settings: RawSetting[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((rawLine, i) => {
    let line = rawLine.trim();
    if (line === "" || line.startsWith("#")) return;
    const comment = line.indexOf(" #");
    if (comment >= 0) line = line.slice(0, comment).trim();
    const space = line.indexOf(" ");
    const name = (space < 0 ? line : line.slice(0, space)).replace(/^-+/, "");
    const value = space < 0 ? "true" : line.slice(space + 1).trim();
    const flag = findFlag(name);
    if (!flag) {
      problems.push(`config file ${fileName} line ${i + 1}: ${unknownFlagMessage(`"${name}"`, name)}`);
      return;
    }
    settings.push({ flag, value, source: "file", spelled: name });
  });
  return { settings, problems };
}
