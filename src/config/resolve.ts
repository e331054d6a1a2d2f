import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { errorMessage } from "../errors/LpError.js";
import type { ChainSettings } from "../eth/Chain.js";
import { chainConfigFromOptions } from "../eth/networks.js";
import { isLoopbackHost } from "../http/net.js";
import { parseTranscodingOptions, type VideoProfile } from "../media/profiles.js";
import { Rat } from "../payments/rat.js";
import {
  normalizeRemoteSignerUrl,
  parseHeaderList,
  type RemoteSignerConfig,
  resolveRemoteSigner,
} from "../signer/config.js";
import { defaultAddr, formatHostPort, type HostPort, parseHostPort } from "./addresses.js";
import { coerce, parseDuration } from "./coerce.js";
import { FLAGS, type FlagDef, type FlagName, type FlagValue, findFlag } from "./flags.js";
import { type SenderLimitFlags, senderLimitFlags } from "./senderLimits.js";
import { parseArgv, parseConfigFile, parseEnv, type RawSetting, type Source } from "./sources.js";

/** Gateway flags that only act on a chain (payments, selection). */
const GATEWAY_CHAIN_FLAGS: readonly FlagName[] = [
  "maxTicketEV",
  "maxTotalEV",
  "depositMultiplier",
  "maxPricePerUnit",
  "maxPricePerCapability",
  "selectStakeWeight",
  "selectPriceWeight",
  "selectRandFreq",
  "selectPriceExpFactor",
  "ignoreMaxPriceIfNeeded",
  "minPerfScore",
  "orchPerfStatsUrl",
  "region",
];

/** The five roles of a node. */
export const ROLES = ["gateway", "orchestrator", "transcoder", "redeemer", "remote-signer"] as const;
export type Role = (typeof ROLES)[number];

/** Side effects the resolver needs, injected so it stays a pure function in tests. */
export interface ConfigIO {
  env: NodeJS.ProcessEnv;
  /** File contents, or null when `path` is not a readable, non-empty regular file. */
  readFile(path: string): string | null;
  homeDir?: string;
}

/** Typed flag values after merging, with where each explicit one came from. */
export class Options {
  constructor(
    private readonly values: ReadonlyMap<FlagName, FlagValue>,
    readonly sources: ReadonlyMap<FlagName, Source>,
  ) {}
  /** Value of a flag (its default when not given); undefined only for unset nil-if-unset flags. */
  get(name: FlagName): FlagValue | undefined {
    const def = findFlag(name);
    if (!def) throw new Error(`no such flag ${name}`);
    return this.values.has(name) ? this.values.get(name) : def.default;
  }
  /** String value ("" when unset). */
  str(name: FlagName): string {
    const v = this.get(name);
    return v === undefined ? "" : String(v);
  }
  /** Boolean value (false when unset). */
  bool(name: FlagName): boolean {
    return this.get(name) === true;
  }
  /** Numeric value (0 when unset). */
  num(name: FlagName): number {
    return Number(this.get(name) ?? 0);
  }
  /** Duration flag in milliseconds. */
  ms(name: FlagName): number {
    return parseDuration(this.str(name)) ?? 0;
  }
  /** Whether the user gave this flag (any source). */
  isSet(name: FlagName): boolean {
    return this.values.has(name);
  }
  /** Flags the user set to something other than the default, for the startup table. */
  nonDefault(): { name: FlagName; value: FlagValue; secret: boolean; source: Source }[] {
    const out = [];
    for (const f of FLAGS) {
      if (!this.values.has(f.name)) continue;
      const value = this.values.get(f.name)!;
      if (value === f.default || f.name === "config") continue;
      out.push({ name: f.name, value, secret: f.secret === true, source: this.sources.get(f.name)! });
    }
    return out;
  }
}

/** One listening socket of the node and the flag that chose its address (logged at start). */
export interface ListenerConfig {
  /** cli (admin API), http (gateway media), rtmp (gateway ingest) or orchestrator (TLS port). */
  name: "cli" | "http" | "rtmp" | "orchestrator" | "signer" | "redeemer";
  addr: HostPort;
  /** The flag whose value, or whose default, chose this address, e.g. "-cliAddr". */
  flag: string;
  /** How the address was chosen, e.g. "default (loopback)" or "set by -orchListenAddr". */
  reason: string;
  /** The flag to give to move this listener elsewhere. */
  change: string;
}

/** What the gateway role reads, typed and validated. */
/** The gateway's settings; on a chain also the sender's limits (SenderLimitFlags). */
export interface GatewayConfig extends SenderLimitFlags {
  /** Media HTTP address (HTTP push ingest and HLS). */
  httpAddr: HostPort;
  rtmpAddr: HostPort;
  /** The default ladder from -transcodingOptions (presets or a JSON file), already parsed. */
  profiles: VideoProfile[];
  /** -orchAddr as given (comma list of orchestrator URIs). */
  orchAddr: string;
  orchWebhookUrl: string;
  authWebhookUrl: string;
  /** -httpIngest when given; undefined leaves go-livepeer's rule (on for loopback or with auth). */
  httpIngest: boolean | undefined;
  maxAttempts: number;
  /** Concurrent streams (-maxSessions). */
  maxStreams: number;
  discoveryTimeoutMs: number;
  orchBlocklist: string[];
  orchMinLivepeerVersion: string;
  currentManifest: boolean;
  demo: boolean;
  /** "" means the npm-shipped ffmpeg. */
  ffmpegPath: string;
  /** On a chain: -selectStakeWeight, -selectPriceWeight, -selectRandFreq and -selectPriceExpFactor. */
  selection: { stakeWeight: number; priceWeight: number; randWeight: number; priceExpFactor: number };
  /** -extraNodes: advertised `nodes` queried per orchestrator (one level deep); 0 = none. */
  extraNodes: number;
  /** On a chain: -ignoreMaxPriceIfNeeded (use every orchestrator when none is under the ceiling). */
  ignoreMaxPriceIfNeeded: boolean;
  /** On a chain: -minPerfScore (0 = off). */
  minPerfScore: number;
  /** On a chain: -orchPerfStatsUrl and -region (upper-cased); both "" when perf scores are off. */
  orchPerfStatsUrl: string;
  region: string;
  /** -remoteSignerUrl normalised ("" for none) and -remoteSignerHeaders parsed (never logged). */
  remoteSignerUrl: string;
  remoteSignerHeaders: Record<string, string>;
}

/** What the orchestrator role reads, typed and validated. */
export interface OrchestratorConfig {
  /** TLS listen address (gRPC and the segment API on one port). */
  listenAddr: HostPort;
  /** URI advertised to gateways (https://host:port): -serviceAddr, or the first -nodes entry. */
  serviceUri: string;
  /** Extra instance URLs (-nodes). */
  nodes: string[];
  /** Shared secret remote transcoders present ("" in orchestrator+transcoder mode). */
  secret: string;
  maxSessions: number | "auto";
  startupAvailabilityCheck: boolean;
  /** -reward as given; null when unset: reward if the account is a registered orchestrator (on a chain). */
  reward: boolean | null;
  /** -initializeRound: initialise rounds nobody else has (on a chain). */
  initializeRound: boolean;
  /** -initializeRoundMaxDelay in ms: the longest random wait before initialising. */
  initializeRoundMaxDelayMs: number;
  /** What the orchestrator charges and how tickets are made (used only on a chain). */
  payments: OrchestratorPaymentsConfig;
  /** -redeemerAddr as https://host:port (default port 8935); "" redeems locally. */
  redeemerAddr: string;
}

/** What the redeemer role reads. */
export interface RedeemerConfig {
  /** gRPC (TLS) listen address, -httpAddr (default 127.0.0.1:8935). */
  listenAddr: HostPort;
  /** -ethOrchAddr: the ticket recipient it accepts and redeems for; "" = the node's account. */
  ethOrchAddr: string;
}

/** The orchestrator's payment flags, checked (-ticketEV, -maxFaceValue, prices). */
export interface OrchestratorPaymentsConfig {
  ticketEV: bigint;
  /** 0 means no cap. */
  maxFaceValue: bigint;
  /** -pricePerUnit as given ("<number>[currency]"); "" when unset (offchain only). */
  pricePerUnit: string;
  pixelsPerUnit: string;
  /** -pricePerGateway JSON ("" for none). */
  pricePerGateway: string;
  autoAdjustPrice: boolean;
  /** -ethOrchAddr: the registered orchestrator tickets are made out to; "" = the node's account. */
  ethOrchAddr: string;
}

/** What the transcoder role reads, typed and validated. */
export interface TranscoderConfig {
  /** Orchestrator a standalone transcoder registers with ("" beside an orchestrator). */
  orchAddr: string;
  secret: string;
  /** Sessions offered to the orchestrator (-maxSessions). */
  capacity: number;
  ffmpegPath: string;
  nvidia: string;
  testTranscoder: boolean;
  hevcDecoding: boolean | undefined;
}

/** Everything a node needs to start, derived from the options and validated. */
export interface NodeConfig {
  roles: Role[];
  /** Every flag value, for what the sections below do not cover (general and planned flags). */
  options: Options;
  network: string;
  datadir: string;
  verbosity: number;
  /** Admin HTTP address (plain HTTP, loopback by default). */
  cliAddr: HostPort;
  /** Every listening socket, in start order, with the flag that chose it. */
  listeners: ListenerConfig[];
  /** Per-role settings; null when the role does not run. */
  gateway: GatewayConfig | null;
  orchestrator: OrchestratorConfig | null;
  transcoder: TranscoderConfig | null;
  redeemer: RedeemerConfig | null;
  remoteSigner: RemoteSignerConfig | null;
  /** The chain and account when -network is not offchain; null offchain. */
  chain: ChainSettings | null;
  warnings: string[];
}

export type ResolveResult =
  | { kind: "ok"; config: NodeConfig }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "subcommand"; name: string; argv: string[] }
  | { kind: "error"; problems: string[] };

/** Subcommands handled outside the node (each parses its own flags). */
export const SUBCOMMANDS = [
  "bench",
  "devnet",
  "money",
  // The operator commands (src/cli/operator.ts).
  "orchestrator",
  "account",
  "bond",
  "unbond",
  "rebond",
  "withdraw-stake",
  "withdraw-fees",
  "claim-earnings",
  "reward",
  "initialize-round",
  "transfer",
  "request-tokens",
] as const;

/**
 * Parse and merge argv, env and config file (flag > env > file > defaults), then validate
 * everything at once. Mirrors go-livepeer's ff-based parsing (cmd/livepeer/livepeer.go) and the
 * checks of cmd/livepeer/starter/starter.go, reporting every problem instead of the first.
 */
export function resolveConfig(argv: readonly string[], io: ConfigIO): ResolveResult {
  const first = argv[0];
  if (first !== undefined && (SUBCOMMANDS as readonly string[]).includes(first)) {
    return { kind: "subcommand", name: first, argv: argv.slice(1) };
  }
  const cli = parseArgv(argv);
  const problems = [...cli.problems];
  if (cli.positionals.length > 0) problems.push(`unexpected argument "${cli.positionals[0]}"`);
  if (cli.settings.some((s) => s.flag.name === "help" && s.value === true)) return { kind: "help" };
  if (cli.settings.some((s) => s.flag.name === "version" && s.value === true)) return { kind: "version" };

  const env = parseEnv(io.env);
  const configPath = lastValue(cli.settings, "config") ?? lastValue(env, "config");
  let file: RawSetting[] = [];
  if (typeof configPath === "string" && configPath !== "") {
    const text = io.readFile(configPath);
    if (text === null) problems.push(`config file ${configPath} cannot be read`);
    else {
      const parsed = parseConfigFile(text, configPath);
      file = parsed.settings;
      problems.push(...parsed.problems);
    }
  }

  // Lowest precedence first so later sources overwrite.
  const values = new Map<FlagName, FlagValue>();
  const sources = new Map<FlagName, Source>();
  const modeWords: string[] = [];
  for (const group of [file, env, cli.settings]) {
    const modeInGroup = group.filter((s) => s.flag.name === "mode");
    if (modeInGroup.length > 0) modeWords.splice(0, modeWords.length); // a higher source replaces the roles
    for (const s of group) {
      if (s.flag.name === "mode") {
        const list = Array.isArray(s.value) ? s.value : [String(s.value)];
        for (const item of list)
          modeWords.push(
            ...item
              .split(",")
              .map((w) => w.trim())
              .filter(Boolean),
          );
        sources.set("mode", s.source);
        continue;
      }
      const raw = Array.isArray(s.value) ? (s.value[s.value.length - 1] ?? "") : s.value;
      const c = coerce(s.flag, raw);
      if ("error" in c) {
        problems.push(`${c.error} (from ${describeSource(s)})`);
        continue;
      }
      values.set(s.flag.name as FlagName, c.value);
      sources.set(s.flag.name as FlagName, s.source);
    }
  }
  if (modeWords.length > 0) values.set("mode", modeWords.join(","));

  // File-or-literal flags: an existing non-empty file's trimmed contents replace the value. A
  // value that looks like a path but names no file is a mistake, never a secret to use as is.
  for (const f of FLAGS) {
    if (!f.fileOrLiteral) continue;
    const v = values.get(f.name);
    if (typeof v !== "string" || v === "") continue;
    const path = v.startsWith("~/") ? join(io.homeDir ?? homedir(), v.slice(2)) : v;
    const text = io.readFile(path);
    if (text !== null && text.trim() !== "") values.set(f.name, text.trim());
    else if (looksLikePath(v)) {
      const shown = f.secret ? "the value" : `"${v}"`;
      problems.push(
        `-${f.name}: ${shown} looks like a file path (it has a "/" or starts with "." or "~") but names no readable, non-empty file`,
      );
    }
  }

  const options = new Options(values, sources);
  const built = buildNodeConfig(options, modeWords, io);
  problems.push(...built.problems);
  if (problems.length > 0) return { kind: "error", problems };
  return { kind: "ok", config: built.config! };
}

/**
 * A file-or-literal value meant as a path: it has a slash or starts with "." or "~". Inline JSON
 * (prices per capability name models such as "org/model") is a literal.
 */
function looksLikePath(value: string): boolean {
  if (/^\s*[[{]/.test(value)) return false;
  return value.includes("/") || value.startsWith(".") || value.startsWith("~");
}

function lastValue(settings: RawSetting[], name: string): string | boolean | string[] | undefined {
  const hits = settings.filter((s) => s.flag.name === name);
  return hits[hits.length - 1]?.value;
}

function describeSource(s: RawSetting): string {
  if (s.source === "flag") return "command line";
  if (s.source === "env") return `env ${s.spelled}`;
  return "config file";
}

const MODE_FLAGS: Partial<Record<FlagName, Role>> = {
  gateway: "gateway",
  broadcaster: "gateway",
  orchestrator: "orchestrator",
  transcoder: "transcoder",
  redeemer: "redeemer",
  remoteSigner: "remote-signer",
};

const MODE_ALIASES: Record<string, Role> = {
  ...Object.fromEntries(ROLES.map((r) => [r, r])),
  broadcaster: "gateway",
  remotesigner: "remote-signer",
  remote_signer: "remote-signer",
};

function buildNodeConfig(
  options: Options,
  modeWords: string[],
  io: ConfigIO,
): { config?: NodeConfig; problems: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];

  // Roles from --mode words and go-livepeer's boolean mode flags.
  const roles = new Set<Role>();
  for (const word of modeWords) {
    const role = MODE_ALIASES[word.toLowerCase()];
    if (!role) problems.push(`unknown mode "${word}"; modes are: ${ROLES.join(", ")}`);
    else roles.add(role);
    if (word.toLowerCase() === "broadcaster") warnings.push("mode broadcaster is deprecated; use gateway");
  }
  for (const [flag, role] of Object.entries(MODE_FLAGS) as [FlagName, Role][]) {
    if (options.bool(flag)) roles.add(role);
  }
  if (options.bool("broadcaster")) warnings.push("-broadcaster flag is deprecated; use -gateway");
  const ordered = ROLES.filter((r) => roles.has(r));
  if (ordered.length === 0 && problems.length === 0) {
    problems.push(
      `No services enabled; must be at least one of: ${ROLES.join(", ")} (--mode ROLE[,ROLE], or -gateway, -orchestrator, -transcoder, -redeemer, -remoteSigner)`,
    );
  }
  for (const solo of ["redeemer", "remote-signer"] as const) {
    if (roles.has(solo) && roles.size > 1) problems.push(`${solo} cannot be combined with other roles`);
  }

  // Flags whose feature is not built yet are refused, never silently ignored.
  for (const f of FLAGS) {
    if (f.status !== "planned" || !options.isSet(f.name)) continue;
    const v = options.get(f.name);
    if (v === f.default || (f.offValues ?? []).includes(v as FlagValue)) continue;
    problems.push(`-${f.name}: not supported yet`);
  }

  const network = options.str("network");
  const chainResult = chainConfigFromOptions({
    network,
    ethUrl: options.str("ethUrl"),
    ethController: options.str("ethController"),
    maxGasPrice: options.str("maxGasPrice"),
    minGasPrice: options.isSet("minGasPrice") ? options.str("minGasPrice") : undefined,
    gasLimit: options.str("gasLimit"),
    transactionTimeoutMs: options.ms("transactionTimeout"),
    maxTransactionReplacements: options.num("maxTransactionReplacements"),
    blockPollingInterval: options.num("blockPollingInterval"),
    priceFeedAddr: options.str("priceFeedAddr"),
  });
  problems.push(...chainResult.problems);
  if (chainResult.config) {
    if (chainResult.config.deprecated) warnings.push(`-network ${network} is deprecated`);
  } else if (network === "offchain") {
    for (const flag of ["ethUrl", "ethController", "ethAcctAddr", "ethKeystorePath"] as const) {
      if (options.str(flag) !== "") warnings.push(`-${flag} has no effect with -network offchain`);
    }
  }
  if (roles.has("remote-signer") && network === "offchain")
    problems.push("Remote signer mode requires on-chain network");
  if (roles.has("redeemer") && network === "offchain")
    problems.push("Redeemer mode requires on-chain network");

  const verbosity = Number(options.str("v"));
  if (!Number.isInteger(verbosity) || verbosity < 0)
    problems.push(`-v: "${options.str("v")}" is not a verbosity level`);

  const logFormat = options.str("logFormat");
  if (!["auto", "json", "pretty"].includes(logFormat))
    problems.push(`-logFormat must be auto, json or pretty`);

  const isO = roles.has("orchestrator");
  const isT = roles.has("transcoder");
  const isG = roles.has("gateway");

  // -maxSessions: go-livepeer's rules and texts (starter.go).
  let maxSessions: number | "auto" = 10;
  const ms = options.str("maxSessions");
  if (ms === "auto") {
    if (isO && isT)
      problems.push(
        "-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified",
      );
    else if (!isO) problems.push("-maxSessions must be 'auto' or greater than zero");
    else maxSessions = "auto";
  } else if (!/^\d+$/.test(ms) || Number(ms) <= 0) {
    problems.push("-maxSessions must be 'auto' or greater than zero");
  } else maxSessions = Number(ms);

  const authWebhook = options.str("authWebhookUrl");
  if (authWebhook !== "") {
    if (!isHttpUrl(authWebhook)) problems.push("Error setting auth webhook URL: URL should be HTTP or HTTPS");
    if (isO && !isG)
      problems.push("-authWebhookUrl: gateway authentication on an orchestrator is not supported yet");
  }
  const orchWebhook = options.str("orchWebhookUrl");
  if (orchWebhook !== "" && !isHttpUrl(orchWebhook))
    problems.push("Error setting orch webhook URL: URL should be HTTP or HTTPS");

  const orchPayments = isO ? orchestratorPayments(options, network !== "offchain", problems) : null;

  const orchSecret = options.str("orchSecret");
  if (isO && !isT && orchSecret === "") {
    problems.push(
      "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode",
    );
  }
  if (isT && !isO) {
    if (orchSecret === "") problems.push("Missing -orchSecret");
    if (options.str("orchAddr") === "") problems.push("Missing -orchAddr");
  }

  // -nodes: each entry gets https:// when it has no scheme and must be https.
  const nodes: string[] = [];
  if (options.str("nodes") !== "") {
    const bad: string[] = [];
    for (const entry of options
      .str("nodes")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `https://${entry}`;
      try {
        const u = new URL(withScheme);
        if (u.protocol !== "https:") bad.push(entry);
        else nodes.push(u.origin);
      } catch {
        bad.push(entry);
      }
    }
    if (nodes.length === 0 || bad.length > 0)
      problems.push(`No valid instance URLs parsed from -nodes: ${bad.join(", ")}`);
  }

  // The gateway's sender limits and price ceilings act only on a chain (go-livepeer reads them
  // there): a bad value stops the node with go-livepeer's text; offchain they are said to do nothing.
  // Checked here without the payments code, which an offchain node never loads.
  if (isG && network !== "offchain") {
    for (const name of ["maxTicketEV", "maxTotalEV"] as const) {
      const v = options.str(name);
      let r: Rat | null = null;
      try {
        r = Rat.parse(v.trim());
      } catch {
        r = null;
      }
      const why = !r ? "be a valid rational number" : r.sign() < 0 ? "not be negative" : null;
      if (why)
        problems.push(
          `-${name} must ${why}, but ${v} provided. Restart the node with a valid value for -${name}`,
        );
    }
    const dm = options.num("depositMultiplier");
    if (!Number.isSafeInteger(dm) || dm <= 0)
      problems.push(
        `-depositMultiplier must be greater than 0, but ${dm} provided. Restart the node with a valid value for -depositMultiplier`,
      );
    // go-livepeer checks the selection weights on a chain only (its text).
    const [sw, pw, rw] = (["selectStakeWeight", "selectPriceWeight", "selectRandFreq"] as const).map((f) =>
      options.num(f),
    ) as [number, number, number];
    if (!(Math.abs(sw + pw + rw - 1) <= 0.0001))
      problems.push(
        `Incorrect parameters for selection algorithm, err=sum of selection algorithm weights must be 1.0, stakeWeight=${sw}, priceWeight=${pw}, randWeight=${rw}`,
      );
    if (!(options.num("selectPriceExpFactor") > 0))
      problems.push(
        `-selectPriceExpFactor must be greater than 0, provided ${options.num("selectPriceExpFactor")}`,
      );
    const mps = options.num("minPerfScore");
    if (!Number.isFinite(mps) || mps < 0)
      problems.push(`-minPerfScore must be a number at least 0, provided ${mps}`);
    const perfUrl = options.str("orchPerfStatsUrl");
    if (perfUrl !== "" && !/^https?:\/\/[^\s]+$/i.test(perfUrl))
      problems.push(`-orchPerfStatsUrl must be an http:// or https:// URL, provided ${perfUrl}`);
    else if (perfUrl !== "" && !URL.canParse(perfUrl))
      problems.push(`-orchPerfStatsUrl is not a valid URL: ${perfUrl}`);
    // go-livepeer reads the scores only when both are set.
    if ((perfUrl === "") !== (options.str("region") === ""))
      warnings.push("-orchPerfStatsUrl and -region work only together; perf scores are off");
    if (mps > 0 && (perfUrl === "" || options.str("region") === ""))
      warnings.push("-minPerfScore has no effect without -orchPerfStatsUrl and -region");
    const max = options.str("maxPricePerUnit");
    if (!/^(\d+(\.\d+)?)([A-z][A-z0-9]*)?$/.test(max))
      problems.push(
        `The maximum price per unit must be a valid integer with an optional currency, provided ${max} instead`,
      );
  } else if (isG) {
    for (const flag of GATEWAY_CHAIN_FLAGS) {
      if (options.isSet(flag)) warnings.push(`-${flag} has no effect with -network offchain`);
    }
  }

  if (isG && options.num("extraNodes") < 0)
    problems.push(`-extraNodes must be at least 0, provided ${options.num("extraNodes")}`);
  // The remote signer's discovery does not follow advertised nodes (yet): said, not ignored.
  if (!isG && options.isSet("extraNodes"))
    warnings.push("-extraNodes has no effect without the gateway role");

  // Orchestrator service URI.
  let serviceUri: string | null = null;
  if (isO) {
    const sa = options.str("serviceAddr");
    if (sa === "none" || (sa === "" && nodes.length === 0)) {
      problems.push("Empty service URI and no additional nodes specified; set -serviceAddr or -nodes");
    } else if (sa !== "") {
      try {
        const withScheme = /^https?:\/\//i.test(sa) ? sa : `https://${sa}`;
        if ([...sa].some((ch) => ch.charCodeAt(0) < 0x21)) throw new Error("control characters or spaces");
        const u = new URL(withScheme);
        // URL keeps an IPv6 host in brackets already.
        serviceUri = `https://${u.hostname}:${u.port || "8935"}`;
      } catch (err) {
        problems.push(`Error getting service URI: ${(err as Error).message}`);
      }
    }
  }

  // -transcodingOptions is read by the gateway; a bad preset or profile file stops it here, not
  // after start-up.
  let profiles: VideoProfile[] = [];
  if (isG || options.isSet("transcodingOptions")) {
    try {
      profiles = parseTranscodingOptions(options.str("transcodingOptions"), io.readFile);
    } catch (err) {
      problems.push(`-transcodingOptions: ${errorMessage(err)}`);
    }
  }

  // Listen addresses, per role, as go-livepeer defaults them; the orchestrator's stays on
  // loopback when the address it advertises is loopback (nothing outside could use it anyway).
  const listeners: ListenerConfig[] = [];
  const listen = (
    name: ListenerConfig["name"],
    flag: FlagName,
    host: string,
    port: number,
    why: { value?: string; reason?: string; change?: string } = {},
  ): HostPort | null => {
    const value = why.value ?? options.str(flag);
    let hp: HostPort;
    try {
      hp = parseHostPort(defaultAddr(value, host, port));
    } catch (err) {
      problems.push(`-${flag}: ${errorMessage(err)}`);
      return null;
    }
    if (hp.host !== "" && !isIP(hp.host) && !HOSTNAME.test(hp.host)) {
      problems.push(`-${flag}: "${hp.host}" is not a host name or IP address (in "${value}")`);
      return null;
    }
    const reason = why.reason ?? (options.isSet(flag) ? `set by -${flag}` : "default");
    listeners.push({ name, addr: hp, flag: `-${flag}`, reason, change: why.change ?? `-${flag}` });
    return hp;
  };
  const cliDefaultPort = isG ? 5935 : isO ? 7935 : isT ? 6935 : roles.has("remote-signer") ? 3935 : 7935;
  const gatewayHttpAddr = isG ? listen("http", "httpAddr", "127.0.0.1", 9935) : null;
  const rtmpAddr = isG ? listen("rtmp", "rtmpAddr", "127.0.0.1", 1935) : null;
  const signerAddr = roles.has("remote-signer") ? listen("signer", "httpAddr", "127.0.0.1", 8935) : null;
  const remoteSigner = signerAddr ? resolveRemoteSigner(options, signerAddr, problems) : null;
  let remoteSignerUrl = "";
  const signerHeaders = parseHeaderList(options.str("remoteSignerHeaders"), "remoteSignerHeaders");
  if (isG && options.str("remoteSignerUrl") !== "") {
    const u = normalizeRemoteSignerUrl(options.str("remoteSignerUrl"));
    if ("problem" in u) problems.push(u.problem);
    else remoteSignerUrl = u.url;
    if (signerHeaders.problem) problems.push(signerHeaders.problem);
  }
  const redeemerListen = roles.has("redeemer")
    ? listen("redeemer", "httpAddr", "127.0.0.1", 8935, {
        value: options.str("httpAddr").replace(/^https:\/\//, ""),
      })
    : null;
  const redeemerAddr = isO ? redeemerUrl(options.str("redeemerAddr"), problems) : "";
  if (options.str("redeemerAddr") !== "" && (!isO || network === "offchain"))
    warnings.push("-redeemerAddr has no effect without the orchestrator role on a chain");
  const redeemerRecipient = options.str("ethOrchAddr").trim();
  if (redeemerListen && redeemerRecipient !== "" && !/^0x[0-9a-fA-F]{40}$/.test(redeemerRecipient))
    problems.push(
      `-ethOrchAddr must be an Ethereum address (0x and 40 hex digits), provided ${redeemerRecipient}`,
    );
  let orchListen: HostPort | null = null;
  const advertised = serviceUri ?? nodes[0] ?? null;
  if (isO && advertised !== null) {
    const url = new URL(advertised);
    const servicePort = Number(url.port || 8935);
    const serviceHost = url.hostname.replace(/^\[|\]$/g, "");
    const httpAddr = options.str("httpAddr");
    const advertisedBy = serviceUri !== null ? "serviceAddr" : "nodes";
    if (options.isSet("orchListenAddr")) {
      if (!isG && httpAddr !== "")
        problems.push(
          "-orchListenAddr and -httpAddr both set the orchestrator's listen address; give only one",
        );
      orchListen = listen("orchestrator", "orchListenAddr", "", servicePort);
    } else if (!isG && httpAddr !== "") {
      // go-livepeer: a standalone orchestrator listens on -httpAddr.
      const raw = httpAddr.replace(/^https:\/\//, "");
      if (/^http:\/\//.test(raw))
        problems.push("-httpAddr: plaintext (h2c) orchestrators are not supported yet");
      else
        orchListen = listen("orchestrator", "httpAddr", "", servicePort, {
          value: raw,
          change: "-httpAddr or -orchListenAddr",
        });
    } else if (isLoopbackHost(serviceHost)) {
      orchListen = listen("orchestrator", advertisedBy, serviceHost, servicePort, {
        value: "",
        reason: `the -${advertisedBy} port on loopback, because -${advertisedBy} is loopback`,
        change: "-orchListenAddr",
      });
    } else {
      orchListen = listen("orchestrator", advertisedBy, "", servicePort, {
        value: "",
        reason: `the -${advertisedBy} port on every interface, because -${advertisedBy} is public`,
        change: "-orchListenAddr",
      });
    }
  }
  const cliAddr = listen("cli", "cliAddr", "127.0.0.1", cliDefaultPort) ?? {
    host: "127.0.0.1",
    port: cliDefaultPort,
  };
  problems.push(...portClashes(listeners));
  for (const flag of ["orchListenAddr", "reward", "initializeRound"] as const) {
    if (!isO && options.isSet(flag)) warnings.push(`-${flag} has no effect without the orchestrator role`);
  }

  const datadirFlag = options.str("datadir");
  const datadir = datadirFlag !== "" ? datadirFlag : join(io.homeDir ?? homedir(), ".lpData", network);

  if (problems.length > 0) return { problems };
  const sessions = maxSessions === "auto" ? 10 : maxSessions;
  const ffmpegPath = options.str("ffmpegPath");
  return {
    problems,
    config: {
      roles: ordered,
      options,
      network,
      datadir,
      verbosity,
      cliAddr,
      listeners,
      gateway: isG
        ? {
            httpAddr: gatewayHttpAddr!,
            rtmpAddr: rtmpAddr!,
            profiles,
            orchAddr: options.str("orchAddr"),
            orchWebhookUrl: orchWebhook,
            authWebhookUrl: authWebhook,
            httpIngest: options.isSet("httpIngest") ? options.bool("httpIngest") : undefined,
            maxAttempts: options.num("maxAttempts"),
            maxStreams: sessions,
            discoveryTimeoutMs: options.ms("discoveryTimeout"),
            orchBlocklist: options
              .str("orchBlocklist")
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean),
            orchMinLivepeerVersion: options.str("orchMinLivepeerVersion"),
            currentManifest: options.bool("currentManifest"),
            demo: options.bool("demo"),
            ffmpegPath,
            ...senderLimitFlags(options),
            selection: {
              stakeWeight: options.num("selectStakeWeight"),
              priceWeight: options.num("selectPriceWeight"),
              randWeight: options.num("selectRandFreq"),
              priceExpFactor: options.num("selectPriceExpFactor"),
            },
            extraNodes: options.num("extraNodes"),
            ignoreMaxPriceIfNeeded: options.bool("ignoreMaxPriceIfNeeded"),
            minPerfScore: options.num("minPerfScore"),
            ...(options.str("orchPerfStatsUrl") !== "" && options.str("region") !== ""
              ? {
                  orchPerfStatsUrl: options.str("orchPerfStatsUrl"),
                  region: options.str("region").toUpperCase(),
                }
              : { orchPerfStatsUrl: "", region: "" }),
            remoteSignerUrl,
            remoteSignerHeaders: signerHeaders.headers,
          }
        : null,
      remoteSigner,
      redeemer: redeemerListen ? { listenAddr: redeemerListen, ethOrchAddr: redeemerRecipient } : null,
      orchestrator: isO
        ? {
            listenAddr: orchListen!,
            serviceUri: advertised!,
            nodes,
            secret: orchSecret,
            maxSessions,
            startupAvailabilityCheck: options.bool("startupAvailabilityCheck"),
            reward: options.isSet("reward") ? options.bool("reward") : null,
            initializeRound: options.bool("initializeRound"),
            initializeRoundMaxDelayMs: options.ms("initializeRoundMaxDelay"),
            payments: orchPayments!,
            redeemerAddr,
          }
        : null,
      chain: chainResult.config
        ? {
            chain: chainResult.config,
            account: {
              ethAcctAddr: options.str("ethAcctAddr"),
              ethPassword: options.str("ethPassword"),
              ethKeystorePath: options.str("ethKeystorePath"),
            },
          }
        : null,
      transcoder: isT
        ? {
            orchAddr: isO ? "" : options.str("orchAddr"),
            secret: orchSecret,
            capacity: sessions,
            ffmpegPath,
            nvidia: options.str("nvidia"),
            testTranscoder: options.bool("testTranscoder"),
            hevcDecoding: options.isSet("hevcDecoding") ? options.bool("hevcDecoding") : undefined,
          }
        : null,
      warnings,
    },
  };
}

/** A wei amount flag: a non-negative integer (go-livepeer reads these as big.Int). */
function weiFlag(options: Options, name: "ticketEV" | "maxFaceValue", problems: string[]): bigint {
  const text = options.str(name).trim();
  if (!/^\d{1,78}$/.test(text)) {
    problems.push(`-${name} must be a valid integer >= 0, but ${options.str(name)} provided`);
    return 0n;
  }
  return BigInt(text);
}

/**
 * The orchestrator's payment flags, checked at start with go-livepeer's texts. On a chain a price
 * is required (go-livepeer refuses to start an orchestrator without -pricePerUnit).
 */
function orchestratorPayments(
  options: Options,
  onChain: boolean,
  problems: string[],
): OrchestratorPaymentsConfig {
  const out: OrchestratorPaymentsConfig = {
    ticketEV: weiFlag(options, "ticketEV", problems),
    maxFaceValue: weiFlag(options, "maxFaceValue", problems),
    pricePerUnit: options.str("pricePerUnit"),
    pixelsPerUnit: options.str("pixelsPerUnit"),
    pricePerGateway: options.str("pricePerGateway"),
    autoAdjustPrice: options.bool("autoAdjustPrice"),
    ethOrchAddr: options.str("ethOrchAddr").trim(),
  };
  if (out.ethOrchAddr !== "" && !/^0x[0-9a-fA-F]{40}$/.test(out.ethOrchAddr))
    problems.push(
      `-ethOrchAddr must be an Ethereum address (0x and 40 hex digits), provided ${out.ethOrchAddr}`,
    );
  // The same patterns as src/payments/pricing.ts, which the config layer does not load (it pulls
  // in chain code); -pricePerGateway's JSON is checked when payments start.
  if (!/^\d{1,30}$/.test(out.pixelsPerUnit.trim()) || /^0+$/.test(out.pixelsPerUnit.trim()))
    problems.push(`-pixelsPerUnit must be an integer > 0, provided ${out.pixelsPerUnit}`);
  if (onChain && !options.isSet("pricePerUnit")) problems.push("-pricePerUnit must be set");
  else if (options.isSet("pricePerUnit") && !/^(\d+(\.\d+)?)([A-z][A-z0-9]*)?$/.test(out.pricePerUnit))
    problems.push(
      `-pricePerUnit must be a valid integer with an optional currency, provided ${out.pricePerUnit}`,
    );
  return out;
}

/** -redeemerAddr as https://host:port: go-livepeer's default port 8935; TLS only (the redeemer serves no plaintext). */
function redeemerUrl(value: string, problems: string[]): string {
  const v = value.trim();
  if (v === "") return "";
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !/^https:\/\//i.test(v))
      throw new Error("the scheme must be https");
    const u = new URL(/^https:\/\//i.test(v) ? v : `https://${v}`);
    if (u.pathname !== "/" || u.search !== "" || u.username !== "") throw new Error("give only host[:port]");
    return `https://${u.hostname}:${u.port || "8935"}`;
  } catch (err) {
    problems.push(`-redeemerAddr: "${v}" is not a redeemer address (host[:port]): ${errorMessage(err)}`);
    return "";
  }
}

/** RFC 1123 host names (a trailing dot allowed). */
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

const WILDCARD_HOSTS = new Set(["", "0.0.0.0", "::"]);

/** Two listeners on one port whose hosts overlap could never both start: say so before starting. */
function portClashes(listeners: ListenerConfig[]): string[] {
  const out: string[] = [];
  listeners.forEach((a, i) => {
    for (const b of listeners.slice(i + 1)) {
      if (a.addr.port === 0 || a.addr.port !== b.addr.port) continue;
      const overlap =
        a.addr.host === b.addr.host || WILDCARD_HOSTS.has(a.addr.host) || WILDCARD_HOSTS.has(b.addr.host);
      if (overlap)
        out.push(
          `${b.flag}: ${formatHostPort(b.addr)} (${b.name}) and ${a.flag}: ${formatHostPort(a.addr)} (${a.name}) use the same port; move one with ${b.change} or ${a.change}`,
        );
    }
  });
  return out;
}

/** Lines for the startup table of non-default settings, secrets masked as go-livepeer does. */
export function describeSettings(options: Options): string[] {
  return options.nonDefault().map((s) => `${s.name}=${s.secret ? "***" : String(s.value)} (${s.source})`);
}

/** Flag definitions grouped in help order. */
export function flagsByGroup(): Map<string, FlagDef[]> {
  const out = new Map<string, FlagDef[]>();
  for (const f of FLAGS) {
    const list = out.get(f.group) ?? [];
    list.push(f);
    out.set(f.group, list);
  }
  return out;
}

/** Whether a webhook URL parses and is http(s) (go-livepeer validateURL). */
function isHttpUrl(value: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
