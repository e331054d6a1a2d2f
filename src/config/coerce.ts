import type { FlagDef, FlagValue } from "./flags.js";

/** Parse a go duration string ("500ms", "1h30m", "2s", "0") into milliseconds; null when invalid. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null = re.exec(s);
  while (m !== null) {
    total += Number(m[1]) * (unit[m[2]!] ?? 0);
    matched = re.lastIndex;
    m = re.exec(s);
  }
  return matched === s.length && matched > 0 ? total : null;
}

/** Parse a boolean the way go's strconv.ParseBool does. */
export function parseBool(text: string): boolean | null {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  return null;
}

/** Turn one raw value into the flag's type, or explain why it cannot be. */
export function coerce(flag: FlagDef, raw: string | boolean): { value: FlagValue } | { error: string } {
  switch (flag.type) {
    case "boolean": {
      const b = typeof raw === "boolean" ? raw : parseBool(raw.trim());
      return b === null ? { error: `-${flag.name}: "${raw}" is not a boolean` } : { value: b };
    }
    case "int": {
      const s = String(raw).trim();
      return /^-?\d+$/.test(s)
        ? { value: Number(s) }
        : { error: `-${flag.name}: "${raw}" is not an integer` };
    }
    case "float": {
      const s = String(raw).trim();
      const n = Number(s);
      return s !== "" && Number.isFinite(n)
        ? { value: n }
        : { error: `-${flag.name}: "${raw}" is not a number` };
    }
    case "duration": {
      const s = String(raw);
      return parseDuration(s) === null
        ? { error: `-${flag.name}: "${raw}" is not a duration (e.g. 500ms, 2s, 5m)` }
        : { value: s.trim() };
    }
    default:
      return { value: String(raw) };
  }
}
