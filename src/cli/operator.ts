import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../config/resolve.js";
import { errorMessage, isLpError } from "../errors/LpError.js";
import { createLogger } from "../logger/logger.js";

/**
 * The operator subcommands (go-livepeer's livepeer_cli menu, non-interactive): the first word of
 * `lp-node <word>`, with the positional arguments each takes.
 */
export const OPERATOR_COMMANDS = {
  orchestrator: { args: ["SUBCOMMAND"], optional: 1 },
  account: { args: [], optional: 1 },
  bond: { args: ["AMOUNT"], optional: 0 },
  unbond: { args: ["AMOUNT"], optional: 0 },
  rebond: { args: ["LOCK_ID"], optional: 0 },
  "withdraw-stake": { args: ["LOCK_ID"], optional: 0 },
  "withdraw-fees": { args: [], optional: 1 },
  "claim-earnings": { args: [], optional: 0 },
  reward: { args: [], optional: 0 },
  "initialize-round": { args: [], optional: 0 },
  transfer: { args: ["AMOUNT"], optional: 0 },
  "request-tokens": { args: [], optional: 0 },
} as const;

/** The names `lp-node` hands to operatorCommand. */
export type OperatorCommand = keyof typeof OPERATOR_COMMANDS;

/** Help of the operator subcommands. */
export const OPERATOR_HELP = `lp-node operator commands: stake, register and run an orchestrator on a chain

  lp-node orchestrator activate --stake AMOUNT --reward-cut PCT --fee-share PCT --service-uri URL
                                [--unbonding-lock ID] [--price PRICE [--pixels-per-unit N]]
        register this account: bond AMOUNT to itself (approving LPT first), set the reward cut and
        fee share, register the service URI (and, with --node, the node's price)
  lp-node orchestrator config [--reward-cut PCT --fee-share PCT] [--service-uri URL] [--price PRICE]
        change a registered orchestrator's cut and share (not in the round's lock window, and when
        active only after this round's reward), its service URI, or (with --node) its price
  lp-node orchestrator list                 the registered orchestrators in the pool, with their URIs
  lp-node orchestrator info                 this account's registration (the node's -ethOrchAddr with --node)
  lp-node account [ADDRESS]                 balances, bond, unbonding locks, registration and the round
  lp-node bond AMOUNT --to ADDRESS          bond LPT to a registered orchestrator (or to yourself)
  lp-node unbond AMOUNT                     start unbonding LPT (a new unbonding lock)
  lp-node rebond LOCK_ID [--to ADDRESS]     return an unbonding lock to the bond (--to when fully unbonded)
  lp-node withdraw-stake LOCK_ID            withdraw an unbonding lock's LPT after the unbonding period
  lp-node withdraw-fees [AMOUNT]            withdraw earned ETH fees (all of them by default)
  lp-node claim-earnings                    fold pending rewards and fees into the bond
  lp-node reward                            call reward for the current round (once per round)
  lp-node initialize-round                  initialise the current round
  lp-node transfer AMOUNT --to ADDRESS      send LPT
  lp-node request-tokens                    ask the test network's LPT faucet for LPT

Amounts of LPT: a number with LPT (500LPT, 0.5lpt) or base units as an integer; withdraw-fees takes
ETH (0.1eth, 10gwei, or wei). Percentages: 10% or 10 (12.5% allowed, four decimals at most).
Either straight to the chain with the node's chain flags (-network, -ethUrl, -ethController,
-ethKeystorePath, -ethAcctAddr, -ethPassword, -datadir, --config, LP_* env vars), or through a
running node's CLI API with --node http://127.0.0.1:7935 (its account sends; --price needs it).
Every read that shows a transaction would revert is made first: nothing is sent then.
--json prints one JSON object on stdout (amounts as decimal strings). Exit status: 0 done,
1 the chain (or node) refused or failed, 2 bad usage, flags or amounts.
`;

interface OperatorIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** fetch for --node (tests inject nothing; the global one by default). */
  fetch?: typeof fetch;
}

/** Options the operator commands take besides the chain flags; the value is the form they take. */
const OWN_OPTIONS = {
  json: "boolean",
  node: "string",
  stake: "string",
  "reward-cut": "string",
  "fee-share": "string",
  "service-uri": "string",
  "unbonding-lock": "string",
  price: "string",
  "pixels-per-unit": "string",
  to: "string",
} as const;
type OwnOption = keyof typeof OWN_OPTIONS;

/** Where an operator command failed: bad usage (exit 2) or a refusal or failure (exit 1). */
class Failure extends Error {
  constructor(
    message: string,
    readonly exit: 1 | 2,
    readonly code: string,
  ) {
    super(message);
  }
}

function readIfFile(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : null;
  } catch {
    return null;
  }
}

/** Splits argv into the command's own options, its positional words, and the chain flags. */
export function splitOperatorArgs(argv: readonly string[]): {
  own: Partial<Record<OwnOption, string>>;
  positional: string[];
  flags: string[];
} {
  const own: Partial<Record<OwnOption, string>> = {};
  const positional: string[] = [];
  const flags: string[] = [];
  let seenFlag = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([a-z][a-z-]*)(?:=(.*))?$/s.exec(a);
    if (m && Object.hasOwn(OWN_OPTIONS, m[1]!)) {
      const name = m[1] as OwnOption;
      if (OWN_OPTIONS[name] === "boolean") {
        if (m[2] !== undefined && m[2] !== "true" && m[2] !== "false")
          throw new Failure(`--${name} takes no value (or =true, =false)`, 2, "USAGE");
        own[name] = m[2] ?? "true";
      } else if (m[2] !== undefined) {
        own[name] = m[2];
      } else {
        const v = argv[i + 1];
        if (v === undefined) throw new Failure(`--${name} needs a value`, 2, "USAGE");
        own[name] = v;
        i++;
      }
      continue;
    }
    // Positional words come before the chain flags; a flag's value is the chain parser's to judge.
    if (!seenFlag && !a.startsWith("-")) positional.push(a);
    else {
      seenFlag = true;
      flags.push(a);
    }
  }
  return { own, positional, flags };
}

/** JSON with big integers as decimal strings (script-safe: no float rounding in any reader). */
function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`;
}

/** Quotes every bare JSON number (Go's big.Int output) so JSON.parse keeps it exact. */
export function quoteNumbers(json: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i]!;
    if (inString) {
      out += ch;
      if (ch === "\\") out += json[++i] ?? "";
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      continue;
    }
    const m =
      ch === "-" || (ch >= "0" && ch <= "9")
        ? /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(json.slice(i, i + 400))
        : null;
    if (m) {
      out += `"${m[0]}"`;
      i += m[0].length - 1;
      continue;
    }
    out += ch;
  }
  return out;
}

/**
 * `lp-node <operator command>`: runs one staking or orchestrator operation straight on the chain
 * (starting the chain layer with the node's flags and keystore, as `lp-node money` does) or
 * through a running node's CLI API (--node). Exit 0 done, 1 refused or failed, 2 bad usage.
 */
export async function operatorCommand(
  name: OperatorCommand,
  argv: string[],
  io: OperatorIo,
): Promise<number> {
  let json = argv.some((a) => /^--?json(=true)?$/.test(a));
  const prog = `lp-node ${name}`;
  const fail = (err: unknown): number => {
    const f =
      err instanceof Failure
        ? err
        : new Failure(errorMessage(err), isBadInput(err) ? 2 : 1, isLpError(err) ? err.code : "ERROR");
    io.stderr.write(
      `${prog}: ${f.message}\n${f.exit === 2 && f.code === "USAGE" ? `\n${OPERATOR_HELP}` : ""}`,
    );
    if (json) io.stdout.write(jsonLine({ error: { code: f.code, message: f.message } }));
    return f.exit;
  };
  if (argv.some((a) => /^--?(help|h)$/.test(a)) || (name === "orchestrator" && argv[0] === "help")) {
    io.stdout.write(OPERATOR_HELP);
    return 0;
  }
  let plan: Plan;
  let flags: string[];
  let node: string | undefined;
  try {
    const split = splitOperatorArgs(argv);
    json = split.own.json === "true";
    flags = split.flags;
    node = split.own.node;
    plan = await planOf(name, split.own, split.positional);
  } catch (err) {
    return fail(err);
  }
  const out = (text: string, obj: unknown) => io.stdout.write(json ? jsonLine(obj) : `${text}\n`);
  try {
    if (node !== undefined) {
      if (flags.length > 0)
        throw new Failure(
          `--node talks to a running node: chain flags (${flags[0]}) do not apply`,
          2,
          "USAGE",
        );
      const result = await viaNode(node, plan, io);
      out(result.text, result.obj);
      return 0;
    }
    if (plan.needsNode) throw new Failure(plan.needsNode, 2, "USAGE");
    return await direct(flags, io, async (chain) => {
      const result = await plan.direct(chain, io.signal);
      out(result.text, result.obj);
      return 0;
    });
  } catch (err) {
    return fail(err);
  }
}

type Staking = typeof import("../eth/staking.js");
type StakingChainT = import("../eth/staking.js").StakingChain;

/** What one command does, both ways, decided from its arguments before anything is reached. */
interface Plan {
  /** Set when the command can only run through a node (a price): the usage error to give. */
  needsNode: string | null;
  /** The CLI API call. */
  http: { method: "GET" | "POST"; path: string; form: Record<string, string> };
  direct(chain: StakingChainT, signal?: AbortSignal): Promise<{ text: string; obj: unknown }>;
  /** Turns the CLI API's answer (parsed, numbers as strings) into the output. */
  fromNode(answer: unknown): { text: string; obj: unknown };
}

function isBadInput(err: unknown): boolean {
  return isLpError(err, "STAKING_BAD_INPUT") || isLpError(err, "MONEY_BAD_AMOUNT");
}

async function planOf(
  name: OperatorCommand,
  own: Partial<Record<OwnOption, string>>,
  positional: string[],
): Promise<Plan> {
  const spec = OPERATOR_COMMANDS[name];
  let words = positional;
  let op: string = name;
  if (name === "orchestrator") {
    const sub = positional[0];
    if (!sub || !["activate", "config", "list", "info"].includes(sub))
      throw new Failure(
        `orchestrator takes activate, config, list or info${sub ? `, not "${sub.slice(0, 30)}"` : ""}`,
        2,
        "USAGE",
      );
    op = `orchestrator ${sub}`;
    words = positional.slice(1);
  } else {
    const max = spec.args.length + spec.optional;
    if (words.length < spec.args.length)
      throw new Failure(`${name} takes ${spec.args.join(" ")} right after it`, 2, "USAGE");
    if (words.length > max)
      throw new Failure(`unexpected argument "${words[max]!.slice(0, 40)}"`, 2, "USAGE");
  }
  const allowed: Record<string, OwnOption[]> = {
    "orchestrator activate": [
      "stake",
      "reward-cut",
      "fee-share",
      "service-uri",
      "unbonding-lock",
      "price",
      "pixels-per-unit",
    ],
    "orchestrator config": ["reward-cut", "fee-share", "service-uri", "price", "pixels-per-unit"],
    bond: ["to"],
    rebond: ["to"],
    transfer: ["to"],
  };
  for (const k of Object.keys(own) as OwnOption[]) {
    if (k === "json" || k === "node") continue;
    if (!(allowed[op] ?? []).includes(k)) throw new Failure(`${op} does not take --${k}`, 2, "USAGE");
  }
  if (name === "orchestrator" && words.length > 0)
    throw new Failure(`unexpected argument "${words[0]!.slice(0, 40)}"`, 2, "USAGE");

  // Parsed here, before any chain or node is reached: a bad value exits 2 with nothing sent.
  const s: Staking = await import("../eth/staking.js");
  const { parseAmount } = await import("../eth/money.js");
  const lpt = (text: string, what: string) => parseAmount(text, what, "lpt");
  const pct = (text: string | undefined, what: string) =>
    text === undefined ? undefined : s.parsePercent(text, what);
  const pctForm = (v: bigint) => s.formatPercent(v).replace(/%$/, "");
  const needTo = () => {
    if (own.to === undefined) throw new Failure(`${op} needs --to ADDRESS`, 2, "USAGE");
    return s.parseAddress(own.to, "--to");
  };
  const price =
    own.price === undefined
      ? undefined
      : (() => {
          const m = /^(\d+(?:\.\d+)?)([A-Za-z][A-Za-z0-9]*)?$/.exec(own.price.trim());
          if (!m)
            throw new Failure(
              `invalid --price "${own.price.slice(0, 40)}": want a number with an optional currency (1000, 0.5USD)`,
              2,
              "USAGE",
            );
          const px = own["pixels-per-unit"] ?? "1";
          if (!/^\d{1,30}$/.test(px) || /^0+$/.test(px))
            throw new Failure(
              `invalid --pixels-per-unit "${px.slice(0, 40)}": want an integer > 0`,
              2,
              "USAGE",
            );
          return { pricePerUnit: m[1]!, currency: m[2] ?? "", pixelsPerUnit: px };
        })();
  if (own["pixels-per-unit"] !== undefined && price === undefined)
    throw new Failure("--pixels-per-unit goes with --price", 2, "USAGE");
  const priceForm: Record<string, string> = price
    ? { pricePerUnit: price.pricePerUnit, currency: price.currency, pixelsPerUnit: price.pixelsPerUnit }
    : {};
  const priceSetting = price
    ? { pricePerUnit: `${price.pricePerUnit}${price.currency}`, pixelsPerUnit: price.pixelsPerUnit }
    : undefined;
  const needsNode = price ? "--price sets a running node's price: give --node URL" : null;

  const txPlan = (
    path: string,
    form: Record<string, string>,
    run: (
      chain: StakingChainT,
      signal?: AbortSignal,
    ) => Promise<{ steps: { op: string; hash: string }[]; warnings: string[] }>,
  ): Plan => {
    const shape = (account: string | null, steps: { op: string; hash: string }[], warnings: string[]) => ({
      text: [
        `${op} success`,
        ...steps.map((t) => `  ${t.op.padEnd(20)} ${t.hash}`),
        ...warnings.map((w) => `warning: ${w}`),
      ].join("\n"),
      obj: { op, success: true, ...(account ? { account } : {}), transactions: steps, warnings },
    });
    return {
      needsNode,
      http: { method: "POST", path, form },
      async direct(chain, signal) {
        const r = await run(chain, signal);
        return shape(chain.signer.address, r.steps, r.warnings);
      },
      fromNode(answer) {
        const a = answer as { transactions?: { op: string; hash: string }[]; warnings?: string[] };
        return shape(null, a.transactions ?? [], a.warnings ?? []);
      },
    };
  };
  const readPlan = (
    path: string,
    form: Record<string, string>,
    read: (chain: StakingChainT) => Promise<unknown>,
    text: (obj: unknown) => string,
  ): Plan => {
    const shape = (obj: unknown) => ({ text: text(obj), obj });
    return {
      needsNode: null,
      http: { method: "GET", path, form },
      async direct(chain) {
        // Through the same JSON as the node gives, so both ways print the same.
        return shape(JSON.parse(quoteNumbers(s.goJson(await read(chain)))));
      },
      fromNode: shape,
    };
  };
  const kv = (obj: unknown, indent = ""): string =>
    Object.entries(obj as Record<string, unknown>)
      .map(([k, v]) =>
        v !== null && typeof v === "object" && !Array.isArray(v)
          ? `${indent}${k}:\n${kv(v, `${indent}  `)}`
          : `${indent}${k.padEnd(28 - indent.length)} ${Array.isArray(v) ? JSON.stringify(v) : String(v)}`,
      )
      .join("\n");

  switch (op) {
    case "orchestrator activate": {
      if (
        own["reward-cut"] === undefined ||
        own["fee-share"] === undefined ||
        own["service-uri"] === undefined
      )
        throw new Failure(
          "orchestrator activate needs --reward-cut, --fee-share and --service-uri",
          2,
          "USAGE",
        );
      const rewardCut = pct(own["reward-cut"], "--reward-cut")!;
      const feeShare = pct(own["fee-share"], "--fee-share")!;
      const { uri } = s.parseServiceUri(own["service-uri"]);
      const amount = own.stake === undefined ? undefined : lpt(own.stake, "--stake");
      const lock =
        own["unbonding-lock"] === undefined
          ? undefined
          : s.parseLockId(own["unbonding-lock"], "--unbonding-lock");
      if (amount !== undefined && lock !== undefined)
        throw new Failure("give --stake or --unbonding-lock, not both", 2, "USAGE");
      return txPlan(
        "/activateOrchestrator",
        {
          blockRewardCut: pctForm(rewardCut),
          feeShare: pctForm(feeShare),
          serviceURI: uri,
          ...(amount !== undefined ? { amount: amount.toString() } : {}),
          ...(lock !== undefined ? { unbondingLockId: lock.toString() } : {}),
          ...priceForm,
        },
        (chain, signal) =>
          s.activateOrchestrator(
            chain,
            { rewardCut, feeShare, serviceURI: uri, amount, unbondingLockId: lock },
            null,
            signal,
          ),
      );
    }
    case "orchestrator config": {
      const rewardCut = pct(own["reward-cut"], "--reward-cut");
      const feeShare = pct(own["fee-share"], "--fee-share");
      if ((rewardCut === undefined) !== (feeShare === undefined))
        throw new Failure("--reward-cut and --fee-share go together", 2, "USAGE");
      const uri = own["service-uri"] === undefined ? undefined : s.parseServiceUri(own["service-uri"]).uri;
      if (rewardCut === undefined && uri === undefined && price === undefined)
        throw new Failure(
          "orchestrator config needs --reward-cut with --fee-share, --service-uri or --price",
          2,
          "USAGE",
        );
      return txPlan(
        "/setOrchestratorConfig",
        {
          ...(rewardCut !== undefined
            ? { blockRewardCut: pctForm(rewardCut), feeShare: pctForm(feeShare!) }
            : {}),
          ...(uri !== undefined ? { serviceURI: uri } : {}),
          ...priceForm,
        },
        (chain, signal) =>
          s.setOrchestratorConfig(
            chain,
            { rewardCut, feeShare, serviceURI: uri, price: priceSetting },
            null,
            signal,
          ),
      );
    }
    case "orchestrator list":
      return readPlan(
        "/registeredOrchestrators",
        {},
        async (chain) => (await s.registeredOrchestrators(chain)).map((t) => s.transcoderJson(t, "0")),
        (obj) => {
          const list = obj as Record<string, string>[];
          if (list.length === 0) return "no registered orchestrators in the pool";
          return list
            .map(
              (t) =>
                `${t["Address"]}  ${t["Active"] ? "active  " : "inactive"}  stake ${t["DelegatedStake"]}  cut ${t["RewardCut"]} share ${t["FeeShare"]} (ppm)  ${t["ServiceURI"] || "(no service URI)"}`,
            )
            .join("\n");
        },
      );
    case "orchestrator info":
      return readPlan(
        "/orchestratorInfo",
        {},
        async (chain) => ({
          Transcoder: s.transcoderJson(await chain.client.transcoderInfo(chain.signer.address)),
        }),
        (obj) => kv(obj),
      );
    case "account": {
      const address = words[0] === undefined ? undefined : s.parseAddress(words[0], "ADDRESS");
      return readPlan(
        "/accountStatus",
        address ? { address } : {},
        async (chain) => s.accountStatusJson(await s.accountStatus(chain, address)),
        (obj) => kv(obj),
      );
    }
    case "bond": {
      const amount = lpt(words[0]!, "AMOUNT");
      const to = needTo();
      return txPlan("/bond", { amount: amount.toString(), toAddr: to }, (chain, signal) =>
        s.bond(chain, amount, to, signal),
      );
    }
    case "unbond": {
      const amount = lpt(words[0]!, "AMOUNT");
      if (amount === 0n) throw new Failure("AMOUNT must be greater than 0", 2, "USAGE");
      return txPlan("/unbond", { amount: amount.toString() }, (chain, signal) =>
        s.unbond(chain, amount, signal),
      );
    }
    case "rebond": {
      const id = s.parseLockId(words[0]!, "LOCK_ID");
      const to = own.to === undefined ? undefined : s.parseAddress(own.to, "--to");
      return txPlan(
        "/rebond",
        { unbondingLockId: id.toString(), ...(to ? { toAddr: to } : {}) },
        (chain, signal) => s.rebond(chain, id, to, signal),
      );
    }
    case "withdraw-stake": {
      const id = s.parseLockId(words[0]!, "LOCK_ID");
      return txPlan("/withdrawStake", { unbondingLockId: id.toString() }, (chain, signal) =>
        s.withdrawStake(chain, id, signal),
      );
    }
    case "withdraw-fees": {
      const amount = words[0] === undefined ? undefined : parseAmount(words[0], "AMOUNT");
      return txPlan(
        "/withdrawFees",
        amount === undefined ? {} : { amount: amount.toString() },
        (chain, signal) => s.withdrawFees(chain, amount, signal),
      );
    }
    case "claim-earnings":
      return txPlan("/claimEarnings", {}, (chain, signal) => s.claimEarnings(chain, signal));
    case "reward":
      return txPlan("/reward", {}, (chain, signal) => s.reward(chain, signal));
    case "initialize-round":
      return txPlan("/initializeRound", {}, (chain, signal) => s.initializeRound(chain, signal));
    case "transfer": {
      const amount = lpt(words[0]!, "AMOUNT");
      if (amount === 0n) throw new Failure("AMOUNT must be greater than 0", 2, "USAGE");
      const to = needTo();
      return txPlan("/transferTokens", { to, amount: amount.toString() }, (chain, signal) =>
        s.transferTokens(chain, to, amount, signal),
      );
    }
    case "request-tokens":
      return txPlan("/requestTokens", {}, (chain, signal) => s.requestTokens(chain, signal));
  }
  throw new Failure(`unknown command ${op}`, 2, "USAGE");
}

/** Longest answer read from a node: a pool of a few hundred orchestrators fits easily. */
const MAX_NODE_ANSWER = 4 * 1024 * 1024;
const NODE_TIMEOUT_MS = 10 * 60_000;

/** Runs the plan through a node's CLI API. */
async function viaNode(base: string, plan: Plan, io: OperatorIo): Promise<{ text: string; obj: unknown }> {
  let url: URL;
  try {
    url = new URL(plan.http.path, base);
  } catch {
    throw new Failure(`invalid --node "${base.slice(0, 80)}": want http://host:port`, 2, "USAGE");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Failure(`invalid --node "${base.slice(0, 80)}": want http://host:port`, 2, "USAGE");
  const form = new URLSearchParams(plan.http.form);
  const timeout = AbortSignal.timeout(NODE_TIMEOUT_MS);
  const signal = io.signal ? AbortSignal.any([io.signal, timeout]) : timeout;
  if (plan.http.method === "GET") for (const [k, v] of form) url.searchParams.set(k, v);
  let res: Response;
  try {
    res = await (io.fetch ?? fetch)(url, {
      method: plan.http.method,
      ...(plan.http.method === "POST" ? { body: form } : {}),
      signal,
    });
  } catch (err) {
    throw new Failure(`cannot reach the node at ${url.origin}: ${errorMessage(err)}`, 1, "NODE_UNREACHABLE");
  }
  const body = (await res.text()).slice(0, MAX_NODE_ANSWER);
  if (!res.ok) {
    const code = res.headers.get("x-lp-error-code");
    const usage =
      code === "STAKING_BAD_INPUT" ||
      code === "MONEY_BAD_AMOUNT" ||
      (code === null && (res.status === 404 || res.status === 405 || /^missing form param/.test(body)));
    const why =
      res.status === 404
        ? `the node has no ${plan.http.path} (is it on a chain?)`
        : body.trim() || `HTTP ${res.status}`;
    throw new Failure(why, usage ? 2 : 1, code ?? `HTTP_${res.status}`);
  }
  let answer: unknown;
  try {
    answer = JSON.parse(quoteNumbers(body));
  } catch {
    throw new Failure(`the node answered something that is not JSON: ${body.slice(0, 80)}`, 1, "BAD_ANSWER");
  }
  return plan.fromNode(answer);
}

/** Starts the chain layer from the node's flags (as `lp-node money`), runs `fn`, stops it. */
async function direct(
  flags: string[],
  io: OperatorIo,
  fn: (chain: StakingChainT) => Promise<number>,
): Promise<number> {
  const result = resolveConfig(["-gateway", ...flags], { env: io.env, readFile: readIfFile });
  if (result.kind === "error")
    throw new Failure(`invalid configuration: ${result.problems.join("; ")}`, 2, "CONFIG");
  if (result.kind !== "ok") throw new Failure("unexpected arguments", 2, "USAGE");
  const { config } = result;
  if (!config.chain)
    throw new Failure(
      "needs a chain: -network other than offchain, with -ethUrl and -ethController (or --node URL)",
      2,
      "USAGE",
    );
  const account = { ...config.chain.account };
  if (account.ethKeystorePath === "") {
    const dir = join(config.datadir, "keystore");
    // An operator command never makes a new account (it would hold nothing): say where it looked.
    if (!existsSync(dir))
      throw new Failure(`no keystore at ${dir}: give -ethKeystorePath or -datadir`, 2, "CONFIG");
    account.ethKeystorePath = dir;
  }
  const { Chain } = await import("../eth/Chain.js");
  const { terminalPrompt } = await import("../eth/account.js");
  // The watchers' state goes to a throw-away folder: a node on the same data directory keeps its own.
  const scratch = mkdtempSync(join(tmpdir(), "lp-operator-"));
  const chain = new Chain(
    { chain: config.chain.chain, account },
    { logger: createLogger({ level: "warn", pretty: false }), datadir: scratch, prompt: terminalPrompt() },
  );
  try {
    try {
      await chain.start(io.signal ?? new AbortController().signal);
    } catch (err) {
      throw new Failure(
        errorMessage(err),
        isLpError(err, "CHAIN_START_FAILED") ? 2 : 1,
        isLpError(err) ? err.code : "ERROR",
      );
    }
    return await fn(chain);
  } finally {
    await chain.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
