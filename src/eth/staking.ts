import { type Abi, type Address, getAddress, type Hash, isAddress, zeroAddress } from "viem";
import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import type { CliRoute } from "../http/cliServer.js";
import {
  bondingManagerAbi,
  livepeerTokenAbi,
  livepeerTokenFaucetAbi,
  roundsManagerAbi,
  serviceRegistryAbi,
} from "./abis.js";
import type { DelegatorInfo, RoundInfo, TranscoderInfo } from "./ChainClient.js";
import { toEthError } from "./errors.js";
import { NO_HINTS, type PoolHints, poolUpdateHints } from "./hints.js";
import { type MoneyChain, MoneyError, parseAmount } from "./money.js";
import { rewardHints } from "./RewardService.js";

/** What the staking operations need from the chain layer; the started Chain satisfies it. */
export type StakingChain = MoneyChain;

/** Parts per million: the contracts' PERC_DIVISOR (100 % = 1,000,000). */
export const PERC_DIVISOR = 1_000_000n;

/**
 * A staking operation refused before anything is sent. BAD_INPUT: the request itself is wrong
 * (an amount, a percentage, an address); REFUSED: the chain's state says the transaction would
 * revert (go-livepeer's texts where it has them). `httpStatus` is what the CLI API answers.
 */
export class StakingError extends LpError {
  declare readonly code: "STAKING_BAD_INPUT" | "STAKING_REFUSED";
  readonly httpStatus: number;

  constructor(code: "STAKING_BAD_INPUT" | "STAKING_REFUSED", message: string, httpStatus = 400) {
    super(code, message);
    this.httpStatus = httpStatus;
  }
}

const badInput = (message: string) => new StakingError("STAKING_BAD_INPUT", message);
const refused = (message: string, httpStatus = 400) =>
  new StakingError("STAKING_REFUSED", message, httpStatus);

/** Whether an error is the caller's bad input (exit 2, HTTP 400) rather than the chain refusing. */
export function isBadInput(err: unknown): boolean {
  return err instanceof MoneyError || isLpError(err, "STAKING_BAD_INPUT");
}

/** The result of a transaction an operation sent. */
export interface StakingTx {
  /** What was sent, in order ("approve", "bond", "transcoder", "setServiceURI"...). */
  steps: { op: string; hash: Hash }[];
  /** Things the operator should know that did not stop the operation. */
  warnings: string[];
}

/**
 * A percentage ("10%", "10", "12.5%") as parts per million of the contracts (10 % = 100000).
 * At most four decimals (one part per million); 0 to 100.
 */
export function parsePercent(text: string, name: string): bigint {
  const shown = JSON.stringify(text.slice(0, 40));
  const m = /^\s*(\d{1,3})(?:\.(\d{1,4}))?\s*%?\s*$/.exec(text);
  if (!m) throw badInput(`invalid ${name} ${shown}: give a percentage from 0 to 100, such as 10% or 12.5`);
  const ppm = BigInt(m[1]!) * 10_000n + BigInt((m[2] ?? "").padEnd(4, "0"));
  if (ppm > PERC_DIVISOR) throw badInput(`invalid ${name} ${shown}: above 100%`);
  return ppm;
}

/** Parts per million as a percentage text ("12.5%"). */
export function formatPercent(ppm: bigint): string {
  const whole = ppm / 10_000n;
  const frac = (ppm % 10_000n).toString().padStart(4, "0").replace(/0+$/, "");
  return `${whole}${frac ? `.${frac}` : ""}%`;
}

/** An Ethereum address (0x and 40 hex digits, any case), checksummed; refuses the zero address. */
export function parseAddress(text: string, name: string): Address {
  if (!isAddress(text, { strict: false }))
    throw badInput(`invalid ${name} ${JSON.stringify(text.slice(0, 60))}: want 0x and 40 hex digits`);
  const address = getAddress(text.toLowerCase());
  if (address === zeroAddress) throw badInput(`invalid ${name}: the zero address`);
  return address;
}

/** An unbonding lock id: a non-negative integer. */
export function parseLockId(text: string, name = "unbondingLockId"): bigint {
  if (!/^\s*\d{1,20}\s*$/.test(text))
    throw badInput(`invalid ${name} ${JSON.stringify(text.slice(0, 40))}: want a non-negative integer`);
  return BigInt(text.trim());
}

/** Longest service URI accepted (the registry stores any string; gateways parse a URL). */
const MAX_SERVICE_URI = 1024;

/**
 * A service URI gateways can dial: an http(s) URL with a host and nothing after the origin but
 * an optional "/". Returns the origin and, for a loopback or private host, a warning (go-livepeer
 * warns too: gateways elsewhere cannot reach it).
 */
export function parseServiceUri(text: string): { uri: string; warning: string | null } {
  const shown = JSON.stringify(text.slice(0, 80));
  if (text.length > MAX_SERVICE_URI)
    throw badInput(`invalid serviceURI ${shown}: longer than ${MAX_SERVICE_URI}`);
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw badInput(`invalid serviceURI ${shown}: want https://host:port`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.hostname === "")
    throw badInput(`invalid serviceURI ${shown}: want https://host:port`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== ""))
    throw badInput(`invalid serviceURI ${shown}: only scheme, host and port`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const local =
    host === "localhost" ||
    /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|0\.)/.test(host) ||
    host === "::1" ||
    /^f[cd]/i.test(host);
  return {
    uri: url.origin,
    warning: local
      ? `service URI ${url.origin} is not a public address: gateways elsewhere cannot reach it`
      : null,
  };
}

/** An account as the operator sees it: balances, bond, registration and the round. */
export interface AccountStatus {
  address: Address;
  ethBalance: bigint;
  lptBalance: bigint;
  /** LPT the BondingManager may move (bond approves more when needed). */
  allowance: bigint;
  delegator: DelegatorInfo & {
    status: "Pending" | "Bonded" | "Unbonded";
    pendingStake: bigint;
    pendingFees: bigint;
  };
  unbondingLocks: UnbondingLock[];
  transcoder: TranscoderInfo;
  round: RoundInfo;
}

/** One unbonding lock of a delegator. */
export interface UnbondingLock {
  id: bigint;
  amount: bigint;
  withdrawRound: bigint;
}

const DELEGATOR_STATUS = ["Pending", "Bonded", "Unbonded"] as const;

async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toEthError(err, what);
  }
}

/** The unbonding locks of `address` still to withdraw or rebond (ids below nextUnbondingLockId). */
export async function unbondingLocks(chain: StakingChain, address?: Address): Promise<UnbondingLock[]> {
  const who = address ?? chain.signer.address;
  const bm = chain.client.contracts.bondingManager.read;
  const d = await chain.client.delegatorInfo(who);
  // A delegator with thousands of locks is unusual; the newest 200 are what an operator acts on.
  const first = d.nextUnbondingLockId > 200n ? d.nextUnbondingLockId - 200n : 0n;
  const ids: bigint[] = [];
  for (let id = first; id < d.nextUnbondingLockId; id++) ids.push(id);
  const locks = await read("BondingManager.getDelegatorUnbondingLock", () =>
    Promise.all(ids.map((id) => bm.getDelegatorUnbondingLock([who, id]))),
  );
  return ids
    .map((id, i) => ({ id, amount: locks[i]![0], withdrawRound: locks[i]![1] }))
    .filter((l) => l.withdrawRound > 0n);
}

/** Everything about an account (the node's by default) that the operator commands act on. */
export async function accountStatus(chain: StakingChain, address?: Address): Promise<AccountStatus> {
  const who = address ?? chain.signer.address;
  const c = chain.client;
  const bm = c.contracts.bondingManager.read;
  const round = await c.roundInfo();
  const [ethBalance, lptBalance, allowance, delegator, status, pendingStake, pendingFees, transcoder, locks] =
    await Promise.all([
      c.ethBalance(who),
      c.tokenBalance(who),
      c.allowance(who, c.addresses.BondingManager),
      c.delegatorInfo(who),
      read("BondingManager.delegatorStatus", () => bm.delegatorStatus([who])),
      read("BondingManager.pendingStake", () => bm.pendingStake([who, round.currentRound])),
      read("BondingManager.pendingFees", () => bm.pendingFees([who, round.currentRound])),
      c.transcoderInfo(who),
      unbondingLocks(chain, who),
    ]);
  return {
    address: who,
    ethBalance,
    lptBalance,
    allowance,
    delegator: {
      ...delegator,
      status: DELEGATOR_STATUS[Number(status)] ?? "Unbonded",
      pendingStake,
      pendingFees,
    },
    unbondingLocks: locks,
    transcoder,
    round,
  };
}

/** The transcoder pool in stake order, each member with its registration and service URI. */
export async function registeredOrchestrators(chain: StakingChain): Promise<TranscoderInfo[]> {
  const pool = await chain.client.transcoderPool();
  return Promise.all(pool.map((m) => chain.client.transcoderInfo(m.address)));
}

async function send(
  chain: StakingChain,
  abi: Abi,
  address: Address,
  functionName: string,
  args: readonly unknown[],
  signal: AbortSignal | undefined,
): Promise<Hash> {
  try {
    const r = await chain.tx.writeContract({ address, abi, functionName, args, signal } as never);
    return (r as { hash: Hash }).hash;
  } catch (err) {
    throw toEthError(err, functionName, abi);
  }
}

const bmSend = (chain: StakingChain, fn: string, args: readonly unknown[], signal?: AbortSignal) =>
  send(chain, bondingManagerAbi, chain.client.addresses.BondingManager, fn, args, signal);

const setServiceUri = (chain: StakingChain, uri: string, signal?: AbortSignal) =>
  send(chain, serviceRegistryAbi, chain.client.addresses.ServiceRegistry, "setServiceURI", [uri], signal);

/** The current round, refused unless initialised; `lock` also refuses inside the lock window. */
async function usableRound(chain: StakingChain, lock = false): Promise<RoundInfo> {
  const r = await chain.client.roundInfo();
  if (!r.initialized)
    throw refused(`current round is not initialized (round ${r.currentRound}): initialize it first`, 500);
  // go-livepeer's ErrCurrentRoundLocked text: the last roundLockAmount share of a round.
  if (lock && r.locked) throw refused("current round is locked", 500);
  return r;
}

/** Pool hints for `delegate` once its stake becomes `newStake` (none when it is not in the pool). */
async function hintsFor(chain: StakingChain, delegate: Address, newStake: bigint): Promise<PoolHints> {
  if (delegate === zeroAddress) return { ...NO_HINTS };
  const [pool, maxSize] = await Promise.all([
    chain.client.transcoderPool(),
    read("BondingManager.getTranscoderPoolMaxSize", () =>
      chain.client.contracts.bondingManager.read.getTranscoderPoolMaxSize(),
    ),
  ]);
  if (!pool.some((p) => p.address.toLowerCase() === delegate.toLowerCase())) return { ...NO_HINTS };
  return poolUpdateHints(pool, delegate, newStake, BigInt(pool.length) === maxSize);
}

function fmtLpt(wei: bigint): string {
  const whole = wei / 10n ** 18n;
  const frac = (wei % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return `${whole}${frac ? `.${frac}` : ""} LPT`;
}

/** Approves the BondingManager for `amount` when its allowance is smaller (go-livepeer's Bond does the same). */
async function ensureAllowance(
  chain: StakingChain,
  amount: bigint,
  steps: StakingTx["steps"],
  signal?: AbortSignal,
) {
  const c = chain.client;
  const allowance = await c.allowance(chain.signer.address, c.addresses.BondingManager);
  if (allowance >= amount) return;
  steps.push({
    op: "approve",
    hash: await send(
      chain,
      livepeerTokenAbi,
      c.addresses.LivepeerToken,
      "approve",
      [c.addresses.BondingManager, amount],
      signal,
    ),
  });
}

async function requireLpt(chain: StakingChain, amount: bigint): Promise<void> {
  const balance = await chain.client.tokenBalance(chain.signer.address);
  if (balance < amount)
    throw refused(
      `insufficient LPT balance: ${chain.signer.address} has ${fmtLpt(balance)}, needs ${fmtLpt(amount)}`,
    );
}

/**
 * Bonds `amount` (may be 0 to move an existing bond) to `to` (BondingManager.bondWithHint),
 * approving first when needed. Refused without a transaction when the round is not initialised,
 * the account holds too little LPT, `to` is not a registered orchestrator (bonding to oneself is
 * how one becomes one), or a registered orchestrator would delegate elsewhere.
 */
export async function bond(
  chain: StakingChain,
  amount: bigint,
  to: Address,
  signal?: AbortSignal,
): Promise<StakingTx> {
  const self = chain.signer.address;
  const c = chain.client;
  await usableRound(chain);
  const [me, target, del] = await Promise.all([
    c.transcoderInfo(self),
    c.transcoderInfo(to),
    c.delegatorInfo(self),
  ]);
  const toSelf = to.toLowerCase() === self.toLowerCase();
  if (!toSelf && target.status !== "Registered")
    throw refused(
      `${to} is not a registered orchestrator: bond to a registered one, or to yourself to become one`,
    );
  const moving =
    del.bondedAmount > 0n &&
    del.delegateAddress !== zeroAddress &&
    del.delegateAddress.toLowerCase() !== to.toLowerCase();
  if (moving && me.status === "Registered")
    throw refused("registered transcoders can't delegate towards other addresses");
  if (amount === 0n && !moving) throw refused("delegation amount must be greater than 0");
  await requireLpt(chain, amount);
  const steps: StakingTx["steps"] = [];
  if (amount > 0n) await ensureAllowance(chain, amount, steps, signal);
  const added = amount + (moving ? del.bondedAmount : 0n);
  const [oldHints, newHints] = await Promise.all([
    moving
      ? c
          .transcoderInfo(del.delegateAddress)
          .then((o) => hintsFor(chain, del.delegateAddress, o.totalStake - del.bondedAmount))
      : Promise.resolve({ ...NO_HINTS }),
    hintsFor(chain, to, target.totalStake + added),
  ]);
  steps.push({
    op: "bond",
    hash: await bmSend(
      chain,
      "bondWithHint",
      [amount, to, oldHints.prev, oldHints.next, newHints.prev, newHints.next],
      signal,
    ),
  });
  return { steps, warnings: [] };
}

/** Unbonds `amount` of the bond into a new unbonding lock (BondingManager.unbondWithHint). */
export async function unbond(chain: StakingChain, amount: bigint, signal?: AbortSignal): Promise<StakingTx> {
  const self = chain.signer.address;
  const c = chain.client;
  if (amount === 0n) throw badInput("unbond amount must be greater than 0");
  const r = await usableRound(chain);
  const del = await c.delegatorInfo(self);
  if (del.bondedAmount === 0n) throw refused(`${self} has no bonded stake to unbond`);
  if (del.startRound > r.currentRound)
    throw refused(`caller must be bonded: the bond is pending until round ${del.startRound}`);
  const bonded = await read("BondingManager.pendingStake", () =>
    c.contracts.bondingManager.read.pendingStake([self, r.currentRound]),
  );
  if (amount > bonded) throw refused(`amount is greater than bonded amount (${fmtLpt(bonded)})`);
  const d = await c.transcoderInfo(del.delegateAddress);
  const hints =
    amount === bonded ? { ...NO_HINTS } : await hintsFor(chain, del.delegateAddress, d.totalStake - amount);
  return {
    steps: [
      { op: "unbond", hash: await bmSend(chain, "unbondWithHint", [amount, hints.prev, hints.next], signal) },
    ],
    warnings: [],
  };
}

/**
 * Returns an unbonding lock to a bond (rebondWithHint); for a fully unbonded account it bonds the
 * lock to `to` (rebondFromUnbondedWithHint), which then must be given.
 */
export async function rebond(
  chain: StakingChain,
  lockId: bigint,
  to?: Address,
  signal?: AbortSignal,
): Promise<StakingTx> {
  const self = chain.signer.address;
  const c = chain.client;
  await usableRound(chain);
  const [del, lock] = await Promise.all([
    c.delegatorInfo(self),
    read("BondingManager.getDelegatorUnbondingLock", () =>
      c.contracts.bondingManager.read.getDelegatorUnbondingLock([self, lockId]),
    ),
  ]);
  if (lock[1] === 0n) throw refused(`invalid unbonding lock ID ${lockId}`);
  if (del.bondedAmount === 0n) {
    if (!to) throw refused("the account is unbonded: give the orchestrator to rebond to (toAddr)");
    const t = await c.transcoderInfo(to);
    if (to.toLowerCase() !== self.toLowerCase() && t.status !== "Registered")
      throw refused(`${to} is not a registered orchestrator`);
    const hints = await hintsFor(chain, to, t.totalStake + lock[0]);
    return {
      steps: [
        {
          op: "rebondFromUnbonded",
          hash: await bmSend(
            chain,
            "rebondFromUnbondedWithHint",
            [to, lockId, hints.prev, hints.next],
            signal,
          ),
        },
      ],
      warnings: [],
    };
  }
  const warnings =
    to && to.toLowerCase() !== del.delegateAddress.toLowerCase()
      ? [`rebonded to the current delegate ${del.delegateAddress}; toAddr is used only when fully unbonded`]
      : [];
  const t = await c.transcoderInfo(del.delegateAddress);
  const hints = await hintsFor(chain, del.delegateAddress, t.totalStake + lock[0]);
  return {
    steps: [
      { op: "rebond", hash: await bmSend(chain, "rebondWithHint", [lockId, hints.prev, hints.next], signal) },
    ],
    warnings,
  };
}

/** Withdraws an unbonding lock's LPT once its withdraw round has come (BondingManager.withdrawStake). */
export async function withdrawStake(
  chain: StakingChain,
  lockId: bigint,
  signal?: AbortSignal,
): Promise<StakingTx> {
  const self = chain.signer.address;
  const r = await usableRound(chain);
  const lock = await read("BondingManager.getDelegatorUnbondingLock", () =>
    chain.client.contracts.bondingManager.read.getDelegatorUnbondingLock([self, lockId]),
  );
  if (lock[1] === 0n) throw refused(`invalid unbonding lock ID ${lockId}`);
  if (lock[1] > r.currentRound)
    throw refused(
      `withdraw round must be before or equal to the current round: lock ${lockId} withdraws in round ${lock[1]}, the current round is ${r.currentRound}`,
    );
  return {
    steps: [{ op: "withdrawStake", hash: await bmSend(chain, "withdrawStake", [lockId], signal) }],
    warnings: [],
  };
}

/** Withdraws earned ETH fees to the account (BondingManager.withdrawFees); all of them without `amount`. */
export async function withdrawFees(
  chain: StakingChain,
  amount?: bigint,
  signal?: AbortSignal,
): Promise<StakingTx & { amount: bigint }> {
  const self = chain.signer.address;
  const r = await usableRound(chain);
  const fees = await read("BondingManager.pendingFees", () =>
    chain.client.contracts.bondingManager.read.pendingFees([self, r.currentRound]),
  );
  const want = amount ?? fees;
  if (want === 0n) throw refused(`no fees to withdraw (${self} has 0 wei of fees)`);
  if (want > fees)
    throw refused(`insufficient fees to withdraw: ${self} has ${fees} wei, asked for ${want} wei`);
  return {
    steps: [{ op: "withdrawFees", hash: await bmSend(chain, "withdrawFees", [self, want], signal) }],
    warnings: [],
    amount: want,
  };
}

/** Folds pending rewards and fees into the bond (BondingManager.claimEarnings up to the current round). */
export async function claimEarnings(chain: StakingChain, signal?: AbortSignal): Promise<StakingTx> {
  const r = await usableRound(chain);
  return {
    steps: [{ op: "claimEarnings", hash: await bmSend(chain, "claimEarnings", [r.currentRound], signal) }],
    warnings: [],
  };
}

/** Calls reward for the current round with pool hints, as the reward service does, once. */
export async function reward(chain: StakingChain, signal?: AbortSignal): Promise<StakingTx> {
  const self = chain.signer.address;
  const r = await usableRound(chain);
  const t = await chain.client.transcoderInfo(self);
  if (!t.active)
    throw refused(
      `${self} is not an active orchestrator in round ${r.currentRound}: reward needs an active orchestrator`,
    );
  if (t.lastRewardRound >= r.currentRound)
    throw refused(`reward was already called for round ${r.currentRound}`);
  const hints = (await rewardHints(chain.client, self, t)) ?? { ...NO_HINTS };
  return {
    steps: [{ op: "reward", hash: await bmSend(chain, "rewardWithHint", [hints.prev, hints.next], signal) }],
    warnings: [],
  };
}

/** Initialises the current round (RoundsManager.initializeRound); refused when it already is. */
export async function initializeRound(chain: StakingChain, signal?: AbortSignal): Promise<StakingTx> {
  const r = await chain.client.roundInfo();
  // go-livepeer's InitializeRound checks first too (ErrRoundInitialized).
  if (r.initialized) throw refused(`round ${r.currentRound} is already initialized`);
  return {
    steps: [
      {
        op: "initializeRound",
        hash: await send(
          chain,
          roundsManagerAbi,
          chain.client.addresses.RoundsManager,
          "initializeRound",
          [],
          signal,
        ),
      },
    ],
    warnings: [],
  };
}

/** Sends LPT to another account (LivepeerToken.transfer). */
export async function transferTokens(
  chain: StakingChain,
  to: Address,
  amount: bigint,
  signal?: AbortSignal,
): Promise<StakingTx> {
  if (amount === 0n) throw badInput("amount must be greater than 0");
  await requireLpt(chain, amount);
  return {
    steps: [
      {
        op: "transfer",
        hash: await send(
          chain,
          livepeerTokenAbi,
          chain.client.addresses.LivepeerToken,
          "transfer",
          [to, amount],
          signal,
        ),
      },
    ],
    warnings: [],
  };
}

/** Asks the test network's LPT faucet for its request amount (LivepeerTokenFaucet.request). */
export async function requestTokens(chain: StakingChain, signal?: AbortSignal): Promise<StakingTx> {
  const c = chain.client;
  const faucet = c.contracts.livepeerTokenFaucet;
  const address = c.addresses.LivepeerTokenFaucet;
  if (!faucet || !address) throw refused(`network ${c.network} has no LPT faucet`);
  const self = chain.signer.address;
  const [whitelisted, next, block] = await Promise.all([
    read("LivepeerTokenFaucet.isWhitelisted", () => faucet.read.isWhitelisted([self])),
    read("LivepeerTokenFaucet.nextValidRequest", () => faucet.read.nextValidRequest([self])),
    read("eth_getBlockByNumber", () => c.publicClient.getBlock({ blockTag: "latest" })),
  ]);
  if (!whitelisted && block.timestamp < next)
    throw refused(`the faucet gives ${self} more LPT after ${new Date(Number(next) * 1000).toISOString()}`);
  return {
    steps: [
      {
        op: "requestTokens",
        hash: await send(chain, livepeerTokenFaucetAbi, address, "request", [], signal),
      },
    ],
    warnings: [],
  };
}

/** What the node lets operator routes change besides the chain: its price. */
export interface OrchestratorStakingHooks {
  /** The on-chain orchestrator address this node serves (-ethOrchAddr, or its account). */
  address: Address;
  /** Sets the default price ("<number>[currency]" per `pixelsPerUnit` pixels); throws on bad input. */
  setPrice(pricePerUnit: string, pixelsPerUnit: string): Promise<void>;
  /** Called after a registration or configuration change, so /status shows it at once. */
  changed?(): void;
  /** The default price per pixel in wei as big.Rat text ("3/2"), null when unknown. */
  basePrice?(): string | null;
}

/** What activateOrchestrator and setOrchestratorConfig take. */
export interface OrchestratorSettings {
  /** Parts per million. */
  rewardCut?: bigint | undefined;
  /** Parts per million. */
  feeShare?: bigint | undefined;
  serviceURI?: string | undefined;
  /** The node's price, applied through the hooks (a node only). */
  price?: { pricePerUnit: string; pixelsPerUnit: string } | undefined;
}

/**
 * Registers the account as an orchestrator (go-livepeer's /activateOrchestrator): optionally
 * rebonds an unbonding lock or bonds `amount` to itself, then transcoder(rewardCut, feeShare) and
 * setServiceURI, and sets the node's price when the node has one. Every read that shows a step
 * would revert is done before the first transaction: already registered, round not initialised
 * or locked, too little LPT, no stake at all.
 */
export async function activateOrchestrator(
  chain: StakingChain,
  settings: OrchestratorSettings & {
    rewardCut: bigint;
    feeShare: bigint;
    serviceURI: string;
    amount?: bigint | undefined;
    unbondingLockId?: bigint | undefined;
  },
  hooks: OrchestratorStakingHooks | null = null,
  signal?: AbortSignal,
): Promise<StakingTx> {
  const self = chain.signer.address;
  const c = chain.client;
  const { uri, warning } = parseServiceUri(settings.serviceURI);
  const t = await c.transcoderInfo(self);
  if (t.status === "Registered") throw refused("orchestrator already registered");
  await usableRound(chain, true);
  const del = await c.delegatorInfo(self);
  const amount = settings.amount ?? 0n;
  let lockAmount = 0n;
  if (settings.unbondingLockId !== undefined) {
    const lock = await read("BondingManager.getDelegatorUnbondingLock", () =>
      c.contracts.bondingManager.read.getDelegatorUnbondingLock([self, settings.unbondingLockId!]),
    );
    if (lock[1] === 0n) throw refused(`invalid unbonding lock ID ${settings.unbondingLockId}`);
    if (del.bondedAmount > 0n && del.delegateAddress.toLowerCase() !== self.toLowerCase())
      throw refused(
        `the account is bonded to ${del.delegateAddress}: an unbonding lock rebonds to it, not to the account`,
      );
    lockAmount = lock[0];
  } else if (amount > 0n) {
    await requireLpt(chain, amount);
  }
  if (amount === 0n && lockAmount === 0n && del.bondedAmount === 0n)
    throw refused(`${self} has no stake: give an amount of LPT to bond (or an unbonding lock to rebond)`);
  // Stake delegated elsewhere moves to the account itself with the bond (of 0 more when no amount).
  const moveBond = del.bondedAmount > 0n && del.delegateAddress.toLowerCase() !== self.toLowerCase();
  const steps: StakingTx["steps"] = [];
  const warnings = warning ? [warning] : [];
  if (hooks && hooks.address.toLowerCase() !== self.toLowerCase())
    warnings.push(`registered ${self}, the node's account; its tickets go to -ethOrchAddr ${hooks.address}`);
  if (settings.price && hooks)
    await hooks.setPrice(settings.price.pricePerUnit, settings.price.pixelsPerUnit);
  else if (settings.price) warnings.push("no price set: this node is not an orchestrator");
  if (settings.unbondingLockId !== undefined) {
    const fn = del.bondedAmount === 0n ? "rebondFromUnbondedWithHint" : "rebondWithHint";
    const args =
      fn === "rebondWithHint"
        ? [settings.unbondingLockId, zeroAddress, zeroAddress]
        : [self, settings.unbondingLockId, zeroAddress, zeroAddress];
    steps.push({ op: "rebond", hash: await bmSend(chain, fn, args, signal) });
  } else if (amount > 0n || moveBond) {
    if (amount > 0n) await ensureAllowance(chain, amount, steps, signal);
    steps.push({
      op: "bond",
      hash: await bmSend(
        chain,
        "bondWithHint",
        [amount, self, zeroAddress, zeroAddress, zeroAddress, zeroAddress],
        signal,
      ),
    });
  }
  // The pool insertion happens here: hint it with the stake the account now has.
  const total = (await c.delegatorInfo(self)).delegatedAmount;
  const hints = await hintsForNew(chain, self, total);
  steps.push({
    op: "transcoder",
    hash: await bmSend(
      chain,
      "transcoderWithHint",
      [settings.rewardCut, settings.feeShare, hints.prev, hints.next],
      signal,
    ),
  });
  if (t.serviceURI !== uri)
    steps.push({ op: "setServiceURI", hash: await setServiceUri(chain, uri, signal) });
  return { steps, warnings };
}

/** Hints for an address joining the pool with `stake` (it is not in it yet). */
async function hintsForNew(chain: StakingChain, self: Address, stake: bigint): Promise<PoolHints> {
  const [pool, maxSize] = await Promise.all([
    chain.client.transcoderPool(),
    read("BondingManager.getTranscoderPoolMaxSize", () =>
      chain.client.contracts.bondingManager.read.getTranscoderPoolMaxSize(),
    ),
  ]);
  if (pool.length === 0) return { ...NO_HINTS };
  return poolUpdateHints(pool, self, stake, BigInt(pool.length) === maxSize);
}

/**
 * Updates a registered orchestrator (go-livepeer's /setOrchestratorConfig): reward cut and fee
 * share together (transcoder(), refused in the round lock window with "current round is
 * locked", and while active before this round's reward), the service URI (setServiceURI, only
 * when it differs) and the node's price. Nothing is sent for a value that is already on chain.
 */
export async function setOrchestratorConfig(
  chain: StakingChain,
  settings: OrchestratorSettings,
  hooks: OrchestratorStakingHooks | null = null,
  signal?: AbortSignal,
): Promise<StakingTx> {
  const self = chain.signer.address;
  const c = chain.client;
  const { rewardCut, feeShare } = settings;
  if ((rewardCut === undefined) !== (feeShare === undefined))
    throw badInput("blockRewardCut and feeShare must be given together");
  if (rewardCut === undefined && settings.serviceURI === undefined && settings.price === undefined)
    throw badInput("nothing to set: give blockRewardCut and feeShare, serviceURI or a price");
  if (settings.price && !hooks) throw badInput("a price is set on a running orchestrator node (its CLI API)");
  const uri = settings.serviceURI === undefined ? null : parseServiceUri(settings.serviceURI);
  const t = await c.transcoderInfo(self);
  if (t.status !== "Registered") throw refused(`${self} is not a registered orchestrator: activate it first`);
  const commission = rewardCut !== undefined && (rewardCut !== t.rewardCut || feeShare !== t.feeShare);
  if (commission) {
    const r = await usableRound(chain, true);
    if (t.active && t.lastRewardRound !== r.currentRound)
      throw refused(
        `caller can't be active or must have already called reward for the current round (round ${r.currentRound})`,
      );
  }
  const steps: StakingTx["steps"] = [];
  const warnings = uri?.warning ? [uri.warning] : [];
  if (settings.price && hooks)
    await hooks.setPrice(settings.price.pricePerUnit, settings.price.pixelsPerUnit);
  if (commission)
    steps.push({ op: "transcoder", hash: await bmSend(chain, "transcoder", [rewardCut, feeShare], signal) });
  if (uri && uri.uri !== t.serviceURI)
    steps.push({ op: "setServiceURI", hash: await setServiceUri(chain, uri.uri, signal) });
  return { steps, warnings };
}

/** JSON with big integers as bare numbers, exact, as Go's encoding/json writes big.Int. */
export function goJson(value: unknown): string {
  const marker = "\u0000bigint:";
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${marker}${v}` : v)).replace(
    /"\\u0000bigint:(-?\d+)"/g,
    "$1",
  );
}

/**
 * go-livepeer's types.Transcoder as its CLI API shows it. PricePerPixel is a big.Rat, which Go
 * writes as a string ("0", "3/2") or null when unset; livepeer_cli prints it from
 * /registeredOrchestrators and fails on null there.
 */
export function transcoderJson(
  t: TranscoderInfo,
  pricePerPixel: string | null = null,
): Record<string, unknown> {
  return {
    Address: t.address,
    ServiceURI: t.serviceURI,
    LastRewardRound: t.lastRewardRound,
    RewardCut: t.rewardCut,
    FeeShare: t.feeShare,
    DelegatedStake: t.totalStake,
    ActivationRound: t.activationRound,
    DeactivationRound: t.deactivationRound,
    LastActiveStakeUpdateRound: t.lastActiveStakeUpdateRound,
    Active: t.active,
    Status: t.status,
    PricePerPixel: pricePerPixel,
  };
}

/** go-livepeer's types.Delegator as its CLI API shows it. */
export function delegatorJson(a: AccountStatus): Record<string, unknown> {
  const d = a.delegator;
  return {
    Address: a.address,
    BondedAmount: d.bondedAmount,
    Fees: d.fees,
    DelegateAddress: d.delegateAddress,
    DelegatedAmount: d.delegatedAmount,
    StartRound: d.startRound,
    LastClaimRound: d.lastClaimRound,
    NextUnbondingLockId: d.nextUnbondingLockId,
    PendingStake: d.pendingStake,
    PendingFees: d.pendingFees,
    Status: d.status,
  };
}

type Reply = Parameters<CliRoute["handler"]>[1];

/**
 * The CLI API's staking and orchestrator routes (go-livepeer's server/webserver.go and
 * handlers.go, at its paths with its parameter names): POST for transactions, GET for reads.
 * Bad input is 400 and a refusal 400 or 500 as go-livepeer answers, both before anything is
 * sent; the header X-Lp-Error-Code carries the error's code for scripts. `orchestrator` gives
 * the node's orchestrator hooks when it has that role (read at request time).
 */
export function stakingRoutes(
  chain: StakingChain,
  options: { orchestrator?: () => OrchestratorStakingHooks | null } = {},
): CliRoute[] {
  const hooks = () => options.orchestrator?.() ?? null;
  const text = (reply: Reply, code: number, body: string) => reply.code(code).type("text/plain").send(body);
  const failed = (reply: Reply, err: unknown) => {
    const code = err instanceof StakingError ? err.httpStatus : err instanceof MoneyError ? 400 : 500;
    if (isLpError(err)) reply.header("x-lp-error-code", err.code);
    return text(reply, code, errorMessage(err));
  };
  const opt = (p: Record<string, string>, name: string) =>
    p[name] === undefined || p[name] === "" ? undefined : p[name];
  const tx = (
    path: string,
    required: string[],
    run: (p: Record<string, string>) => Promise<StakingTx>,
  ): CliRoute => ({
    method: "POST",
    path,
    handler: async (p, reply) => {
      for (const n of required) if (!p[n]) return text(reply, 400, `missing form param: ${n}`);
      let result: StakingTx;
      try {
        result = await run(p);
      } catch (err) {
        return failed(reply, err);
      } finally {
        // A failure midway may have sent some steps: the node reads its registration again either way.
        if (path === "/activateOrchestrator" || path === "/setOrchestratorConfig") hooks()?.changed?.();
      }
      return reply
        .code(200)
        .type("application/json")
        .send(JSON.stringify({ success: true, transactions: result.steps, warnings: result.warnings }));
    },
  });
  const get = (
    path: string,
    type: string,
    run: (p: Record<string, string>) => Promise<string>,
  ): CliRoute => ({
    method: "GET",
    path,
    handler: async (p, reply) => {
      try {
        return reply
          .code(200)
          .type(type)
          .send(await run(p));
      } catch (err) {
        return failed(reply, err);
      }
    },
  });
  const lpt = (p: Record<string, string>, name: string) => parseAmount(p[name]!, name, "lpt");
  const price = (p: Record<string, string>) => {
    const ppu = opt(p, "pricePerUnit");
    if (ppu === undefined) return undefined;
    return { pricePerUnit: `${ppu}${p["currency"] ?? ""}`, pixelsPerUnit: opt(p, "pixelsPerUnit") ?? "1" };
  };
  const orchAddress = () => hooks()?.address ?? chain.signer.address;
  return [
    tx("/activateOrchestrator", ["blockRewardCut", "feeShare", "serviceURI"], (p) =>
      activateOrchestrator(
        chain,
        {
          rewardCut: parsePercent(p["blockRewardCut"]!, "blockRewardCut"),
          feeShare: parsePercent(p["feeShare"]!, "feeShare"),
          serviceURI: p["serviceURI"]!,
          amount: opt(p, "amount") === undefined ? undefined : lpt(p, "amount"),
          unbondingLockId:
            opt(p, "unbondingLockId") === undefined ? undefined : parseLockId(p["unbondingLockId"]!),
          price: price(p),
        },
        hooks(),
      ),
    ),
    tx("/setOrchestratorConfig", [], (p) =>
      setOrchestratorConfig(
        chain,
        {
          rewardCut:
            opt(p, "blockRewardCut") === undefined
              ? undefined
              : parsePercent(p["blockRewardCut"]!, "blockRewardCut"),
          feeShare: opt(p, "feeShare") === undefined ? undefined : parsePercent(p["feeShare"]!, "feeShare"),
          serviceURI: opt(p, "serviceURI"),
          price: price(p),
        },
        hooks(),
      ),
    ),
    tx("/bond", ["amount", "toAddr"], (p) =>
      bond(chain, lpt(p, "amount"), parseAddress(p["toAddr"]!, "toAddr")),
    ),
    tx("/unbond", ["amount"], (p) => unbond(chain, lpt(p, "amount"))),
    tx("/rebond", ["unbondingLockId"], (p) =>
      rebond(
        chain,
        parseLockId(p["unbondingLockId"]!),
        opt(p, "toAddr") === undefined ? undefined : parseAddress(p["toAddr"]!, "toAddr"),
      ),
    ),
    tx("/withdrawStake", ["unbondingLockId"], (p) =>
      withdrawStake(chain, parseLockId(p["unbondingLockId"]!)),
    ),
    tx("/withdrawFees", [], (p) =>
      withdrawFees(chain, opt(p, "amount") === undefined ? undefined : parseAmount(p["amount"]!, "amount")),
    ),
    tx("/claimEarnings", [], () => claimEarnings(chain)),
    // livepeer_cli calls /reward with GET (cmd/livepeer_cli/wizard_transcoder.go callReward).
    { ...tx("/reward", [], () => reward(chain)), alsoGet: true },
    tx("/initializeRound", [], () => initializeRound(chain)),
    tx("/transferTokens", ["to", "amount"], (p) =>
      transferTokens(chain, parseAddress(p["to"]!, "to"), lpt(p, "amount")),
    ),
    tx("/requestTokens", [], () => requestTokens(chain)),
    get("/registeredOrchestrators", "application/json", async () =>
      // go-livepeer fills PricePerPixel from its orchestrators table, "0" when it has no row; this
      // node keeps no such table for its operator routes.
      goJson((await registeredOrchestrators(chain)).map((t) => transcoderJson(t, "0"))),
    ),
    get("/orchestratorInfo", "application/json", async () =>
      goJson({
        Transcoder: transcoderJson(await chain.client.transcoderInfo(orchAddress())),
        // go-livepeer's orchInfo also carries the node's base price (a big.Rat, null when unset).
        PriceInfo: hooks()?.basePrice?.() ?? null,
      }),
    ),
    get("/delegatorInfo", "application/json", async () => goJson(delegatorJson(await accountStatus(chain)))),
    get("/unbondingLocks", "application/json", async (p) => {
      const r = await chain.client.currentRound();
      const locks = await unbondingLocks(chain);
      // Go's strconv.ParseBool, as go-livepeer reads it.
      const withdrawable = ["1", "t", "T", "TRUE", "true", "True"].includes(p["withdrawable"] ?? "");
      return goJson(
        locks
          .filter((l) => !withdrawable || l.withdrawRound <= r)
          .map((l) => ({
            ID: l.id,
            Delegator: chain.signer.address,
            Amount: l.amount,
            WithdrawRound: l.withdrawRound,
          })),
      );
    }),
    get("/currentRound", "text/plain", async () => String(await chain.client.currentRound())),
    get("/roundInitialized", "text/plain", async () => String(await chain.client.currentRoundInitialized())),
    get("/ethAddr", "text/plain", async () => chain.signer.address),
    get("/tokenBalance", "text/plain", async () =>
      String(await chain.client.tokenBalance(chain.signer.address)),
    ),
    get("/ethBalance", "text/plain", async () => String(await chain.client.ethBalance(chain.signer.address))),
    // livepeer_cli reads this into map[string]common.Address, which refuses null: a contract the
    // network lacks (the faucet on mainnet) is the zero address, as go-livepeer shows it.
    get("/contractAddresses", "application/json", async () =>
      JSON.stringify(chain.client.addresses, (_k, v) => (v === null ? zeroAddress : v)),
    ),
    get("/accountStatus", "application/json", async (p) =>
      goJson(
        accountStatusJson(
          await accountStatus(
            chain,
            opt(p, "address") === undefined ? undefined : parseAddress(p["address"]!, "address"),
          ),
        ),
      ),
    ),
  ];
}

/** An AccountStatus as JSON-ready values (big integers stay bigint: goJson writes them as numbers). */
export function accountStatusJson(a: AccountStatus): Record<string, unknown> {
  return {
    Address: a.address,
    EthBalance: a.ethBalance,
    TokenBalance: a.lptBalance,
    Allowance: a.allowance,
    Delegator: delegatorJson(a),
    UnbondingLocks: a.unbondingLocks.map((l) => ({
      ID: l.id,
      Amount: l.amount,
      WithdrawRound: l.withdrawRound,
    })),
    Transcoder: transcoderJson(a.transcoder),
    Round: {
      Current: a.round.currentRound,
      Initialized: a.round.initialized,
      Locked: a.round.locked,
      Length: a.round.roundLength,
      StartBlock: a.round.currentRoundStartBlock,
    },
  };
}
