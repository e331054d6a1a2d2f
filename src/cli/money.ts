import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../config/resolve.js";
import { errorMessage, isLpError } from "../errors/LpError.js";
import { createLogger } from "../logger/logger.js";

/** The operations of `lp-node money` and how many amounts each takes. */
export const MONEY_OPS = {
  "deposit-and-reserve": 2,
  deposit: 1,
  unlock: 0,
  "cancel-unlock": 0,
  withdraw: 0,
  "sender-info": 0,
  "broker-params": 0,
} as const;

type MoneyOp = keyof typeof MONEY_OPS;

/** Help of `lp-node money`. */
export const MONEY_HELP = `lp-node money <op> [amounts] <chain flags> [--json]: the account's TicketBroker funds

  deposit-and-reserve DEPOSIT RESERVE   fund deposit and reserve in one transaction
  deposit AMOUNT                        add to the deposit
  unlock                                start the unlock period of deposit and reserve
  cancel-unlock                         cancel an unlock in progress
  withdraw                              withdraw deposit and reserve after the unlock period
  sender-info                           show deposit, withdraw round and reserve
  broker-params                         show the TicketBroker's unlock period (rounds)

Amounts are wei (an integer) or a number with eth or gwei: 1000000000, 0.5eth, 10gwei.
Chain flags are the node's: -network, -ethUrl, -ethController, -ethKeystorePath, -ethAcctAddr,
-ethPassword, -datadir (and --config, LP_* env vars). --json prints one JSON object on stdout,
amounts as decimal strings of wei.
`;

interface MoneyIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

function readIfFile(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : null;
  } catch {
    return null;
  }
}

/**
 * `lp-node money <op>` (go-livepeer's livepeer_cli deposit/unlock/withdraw menu, as one command):
 * resolves the chain flags as the node does, starts the chain layer, runs one operation, stops it.
 * Exit 0 on success, 1 when the chain refused or failed, 2 for bad usage, flags or amounts.
 */
export async function moneyCommand(argv: string[], io: MoneyIo): Promise<number> {
  let json = false;
  const rest: string[] = [];
  for (const a of argv) {
    const m = /^--?json(?:=(true|false))?$/.exec(a);
    if (m) json = m[1] !== "false";
    else rest.push(a);
  }
  const usage = (msg: string): number => {
    io.stderr.write(`lp-node money: ${msg}\n\n${MONEY_HELP}`);
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: "USAGE", message: msg } })}\n`);
    return 2;
  };
  const op = rest[0];
  if (op === undefined || op === "help" || op === "-h" || op === "--help" || op === "-help") {
    io.stdout.write(MONEY_HELP);
    return op === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(MONEY_OPS, op)) return usage(`unknown operation "${op.slice(0, 40)}"`);
  const arity = MONEY_OPS[op as MoneyOp];
  const amounts = rest.slice(1, 1 + arity);
  if (amounts.length < arity || amounts.some((a) => a.startsWith("-"))) {
    return usage(`${op} takes ${arity === 1 ? "an amount" : `${arity} amounts`} right after it`);
  }
  const flags = rest.slice(1 + arity);

  const money = await import("../eth/money.js");
  const fail = (err: unknown, code: number): number => {
    const message = errorMessage(err);
    io.stderr.write(`lp-node money ${op}: ${message}\n`);
    if (json) {
      const errCode = isLpError(err) ? err.code : "ERROR";
      io.stdout.write(`${JSON.stringify({ error: { code: errCode, message } })}\n`);
    }
    return code;
  };
  // Amounts are checked before anything touches the chain or the keystore.
  let parsed: bigint[];
  try {
    parsed =
      op === "deposit-and-reserve"
        ? [money.parseAmount(amounts[0]!, "DEPOSIT"), money.parseAmount(amounts[1]!, "RESERVE")]
        : op === "deposit"
          ? [money.parseAmount(amounts[0]!, "AMOUNT")]
          : [];
    if (op === "deposit-and-reserve" && parsed[0] === 0n && parsed[1] === 0n)
      throw new money.MoneyError("DEPOSIT and RESERVE cannot both be 0");
    if (op === "deposit" && parsed[0] === 0n) throw new money.MoneyError("AMOUNT must be greater than 0");
  } catch (err) {
    return fail(err, 2);
  }

  // Resolved as a gateway's would be: the same chain, account and data-directory flags.
  const result = resolveConfig(["-gateway", ...flags], { env: io.env, readFile: readIfFile });
  if (result.kind === "error") {
    io.stderr.write(
      `lp-node money: invalid configuration:\n${result.problems.map((p) => `  - ${p}`).join("\n")}\n`,
    );
    if (json) {
      io.stdout.write(
        `${JSON.stringify({ error: { code: "CONFIG", message: result.problems.join("; ") } })}\n`,
      );
    }
    return 2;
  }
  if (result.kind !== "ok") return usage("unexpected arguments");
  const { config } = result;
  if (!config.chain)
    return usage("needs a chain: -network other than offchain, with -ethUrl and -ethController");

  const { Chain } = await import("../eth/Chain.js");
  const { terminalPrompt } = await import("../eth/account.js");
  // The node's keystore, but a throw-away folder for the watchers' state: a node running on the
  // same data directory keeps its own.
  const scratch = mkdtempSync(join(tmpdir(), "lp-money-"));
  const account = { ...config.chain.account };
  if (account.ethKeystorePath === "") {
    const dir = join(config.datadir, "keystore");
    // A money command never makes a new account (it would hold nothing): say where it looked.
    if (!existsSync(dir)) {
      rmSync(scratch, { recursive: true, force: true });
      return fail(new Error(`no keystore at ${dir}: give -ethKeystorePath or -datadir`), 2);
    }
    account.ethKeystorePath = dir;
  }
  const chain = new Chain(
    { chain: config.chain.chain, account },
    {
      logger: createLogger({ level: "warn", pretty: false }),
      datadir: scratch,
      prompt: terminalPrompt(),
    },
  );
  const signal = io.signal ?? new AbortController().signal;
  try {
    try {
      await chain.start(signal);
    } catch (err) {
      return fail(err, isLpError(err, "CHAIN_START_FAILED") ? 2 : 1);
    }
    const out = (text: string, obj: Record<string, unknown>) =>
      io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
    const account = chain.signer.address;
    try {
      if (op === "sender-info") {
        const i = await money.senderInfo(chain);
        out(
          [
            `account          ${account}`,
            `deposit          ${i.deposit} wei`,
            `withdrawRound    ${i.withdrawRound}`,
            `reserve          ${i.reserve.fundsRemaining} wei`,
            `claimedInRound   ${i.reserve.claimedInCurrentRound} wei`,
          ].join("\n"),
          {
            account,
            deposit: i.deposit.toString(),
            withdrawRound: i.withdrawRound.toString(),
            reserve: {
              fundsRemaining: i.reserve.fundsRemaining.toString(),
              claimedInCurrentRound: i.reserve.claimedInCurrentRound.toString(),
            },
          },
        );
        return 0;
      }
      if (op === "broker-params") {
        const p = await money.ticketBrokerParams(chain);
        out(`unlockPeriod     ${p.unlockPeriod} rounds`, { unlockPeriod: p.unlockPeriod.toString() });
        return 0;
      }
      const tx =
        op === "deposit-and-reserve"
          ? await money.fundDepositAndReserve(chain, parsed[0]!, parsed[1]!, signal)
          : op === "deposit"
            ? await money.fundDeposit(chain, parsed[0]!, signal)
            : op === "unlock"
              ? await money.unlock(chain, signal)
              : op === "cancel-unlock"
                ? await money.cancelUnlock(chain, signal)
                : await money.withdraw(chain, signal);
      out(`${op} success (transaction ${tx.hash})`, { op, success: true, account, txHash: tx.hash });
      return 0;
    } catch (err) {
      return fail(err, err instanceof money.MoneyError ? 2 : 1);
    }
  } finally {
    await chain.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}
