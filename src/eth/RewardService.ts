import { type Address, type Hash, parseEventLogs } from "viem";
import { errorMessage } from "../errors/LpError.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import { sleep } from "../utils/sleep.js";
import { bondingManagerAbi, roundsManagerAbi } from "./abis.js";
import type { Chain } from "./Chain.js";
import type { ChainClient, TranscoderInfo } from "./ChainClient.js";
import { NO_HINTS, type PoolHints, poolUpdateHints } from "./hints.js";
import { PerRoundService, type RoundSource } from "./PerRoundService.js";
import type { RoundState } from "./RoundWatcher.js";
import type { TxManager } from "./TxManager.js";

/** What the reward service reports as it works (logs, tests, metrics). */
export type RewardEvent =
  | { kind: "rewarded"; round: bigint; amount: bigint; hash: Hash; hints: PoolHints }
  | { kind: "failed"; round: bigint; attempt: number; error: string }
  | { kind: "skipped"; round: bigint; reason: "inactive" | "already-rewarded" | "nothing-to-mint" };

/** Options of the reward service. */
export interface RewardServiceOptions {
  /** The orchestrator's address (the account that sends the transaction). */
  address: Address;
  /** Wait before retry n (1-based) after a failed attempt; default 5 s doubling up to 2 min. */
  retryDelayMs?: ((attempt: number) => number) | undefined;
}

/** Collaborators of the reward service. */
export interface RewardServiceDeps {
  client: ChainClient;
  tx: Pick<TxManager, "writeContract">;
  rounds: RoundSource;
  logger?: Logger | undefined;
  onEvent?: ((event: RewardEvent) => void) | undefined;
}

const defaultRetryDelay = (attempt: number) => Math.min(5000 * 2 ** (attempt - 1), 120_000);

/**
 * Calls reward once per initialised round for an active orchestrator (go-livepeer's
 * eth/rewardservice.go): the pool hints are computed from the stake the reward will add, a failure
 * is retried with backoff while the round lasts, and a round already rewarded (by this node or the
 * chain's record) is never rewarded again.
 */
export class RewardService extends PerRoundService {
  readonly name = "reward";
  private readonly log: Logger;
  private readonly retryDelay: (attempt: number) => number;
  private rewardedRound = -1n;
  private last: { round: bigint; amount: bigint; hash: Hash } | null = null;

  constructor(
    private readonly options: RewardServiceOptions,
    private readonly deps: RewardServiceDeps,
  ) {
    super(deps.rounds);
    this.log = (deps.logger ?? silentLogger()).child({ module: "reward" });
    this.retryDelay = options.retryDelayMs ?? defaultRetryDelay;
  }

  /** The last reward this node called: round, amount minted (wei) and transaction. */
  get lastReward(): { round: bigint; amount: bigint; hash: Hash } | null {
    return this.last;
  }

  /** /status: the last reward round and the LPT it minted. */
  status(s: NodeStatus): void {
    s["LastReward"] = this.last
      ? { Round: this.last.round.toString(), Amount: this.last.amount.toString(), Tx: this.last.hash }
      : null;
  }

  // rewardWithHint needs the current round initialised; an uninitialised one is looked at again
  // when the watcher sees it initialised.
  protected wants(state: RoundState): boolean {
    return state.initialized;
  }

  protected async handleRound(round: bigint): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.abort.signal.aborted || this.deps.rounds.state.currentRound !== round) return;
      try {
        await this.tryReward(round);
        return;
      } catch (err) {
        const error = errorMessage(err);
        if (/already called reward/.test(error)) {
          this.rewardedRound = round;
          this.emit({ kind: "skipped", round, reason: "already-rewarded" });
          return;
        }
        const wait = this.retryDelay(attempt);
        this.log.warn({ round: round.toString(), attempt, retryInMs: wait, err: error }, "reward failed");
        this.emit({ kind: "failed", round, attempt, error });
        await sleep(wait, this.abort.signal);
      }
    }
  }

  private async tryReward(round: bigint): Promise<void> {
    if (this.rewardedRound >= round) return;
    const { client } = this.deps;
    const self = this.options.address;
    const t = await client.transcoderInfo(self);
    if (t.lastRewardRound >= round) {
      this.log.debug({ round: round.toString() }, "reward already called this round");
      this.rewardedRound = round;
      this.emit({ kind: "skipped", round, reason: "already-rewarded" });
      return;
    }
    if (!t.active) {
      this.log.debug({ round: round.toString() }, "not an active orchestrator this round: no reward");
      this.emit({ kind: "skipped", round, reason: "inactive" });
      return;
    }
    const hints = await rewardHints(client, self, t);
    if (hints === null) {
      this.log.info({ round: round.toString() }, "no rewards to be minted");
      this.emit({ kind: "skipped", round, reason: "nothing-to-mint" });
      return;
    }
    const result = await this.deps.tx.writeContract({
      address: client.addresses.BondingManager,
      abi: bondingManagerAbi,
      functionName: "rewardWithHint",
      args: [hints.prev, hints.next],
      signal: this.abort.signal,
    });
    // A transaction sent at the end of a round can be mined in the next: the chain books the
    // reward in the round of its block, so that is the round recorded here.
    const booked = await client.publicClient
      .readContract({
        address: client.addresses.RoundsManager,
        abi: roundsManagerAbi,
        functionName: "currentRound",
        blockNumber: result.receipt.blockNumber,
      })
      .catch(() => round);
    this.rewardedRound = booked > round ? booked : round;
    const minted = parseEventLogs({
      abi: bondingManagerAbi,
      eventName: "Reward",
      logs: result.receipt.logs,
    }).find((l) => l.args.transcoder.toLowerCase() === self.toLowerCase());
    const amount = minted?.args.amount ?? 0n;
    this.last = { round: booked, amount, hash: result.hash };
    this.log.info({ round: booked.toString(), minted: amount.toString(), tx: result.hash }, "called reward");
    this.emit({ kind: "rewarded", round: booked, amount, hash: result.hash, hints });
  }

  private emit(event: RewardEvent): void {
    try {
      this.deps.onEvent?.(event);
    } catch {
      // An observer's failure is not the service's.
    }
  }
}

/**
 * The pool hints for rewardWithHint (go-livepeer's eth/client.go Reward): where the orchestrator
 * lands once the reward it is estimated to mint is added to its stake. Null when the round has
 * no active stake, so nothing would be minted.
 */
export async function rewardHints(
  client: ChainClient,
  self: Address,
  t: TranscoderInfo,
): Promise<PoolHints | null> {
  const bm = client.contracts.bondingManager.read;
  const [pool, maxSize, ep, mintable, totalBonded] = await Promise.all([
    client.transcoderPool(),
    bm.getTranscoderPoolMaxSize(),
    bm.getTranscoderEarningsPoolForRound([self, t.lastActiveStakeUpdateRound]),
    client.contracts.minter.read.currentMintableTokens(),
    bm.getTotalBonded(),
  ]);
  if (totalBonded === 0n) return null;
  // The estimate ignores the treasury cut: it only places the node in the pool.
  const estimate = (mintable * ep[0]) / totalBonded;
  return pool.length > 0
    ? poolUpdateHints(pool, self, t.totalStake + estimate, BigInt(pool.length) === maxSize)
    : { ...NO_HINTS };
}

/**
 * The node's reward service for -reward (go-livepeer's starter): on when true, off when false, and
 * when unset on only if the account is a registered orchestrator at start. /status shows the last
 * reward either way once one was called.
 */
export function chainRewardService(
  chain: Pick<Chain, "client" | "signer" | "tx" | "rounds">,
  enabled: boolean | null,
  logger: Logger,
  ethOrchAddr: string | null = null,
): Service & { status: (s: NodeStatus) => void } {
  let service: RewardService | null = null;
  return {
    name: "reward",
    async start() {
      // rewardWithHint pays its caller: with -ethOrchAddr the node's hot key cannot call it for the
      // orchestrator, so, as go-livepeer, the decision and the call stay with the node's account.
      if (ethOrchAddr && ethOrchAddr.toLowerCase() !== chain.signer.address.toLowerCase()) {
        logger.info(
          { ethOrchAddr, account: chain.signer.address },
          "reward is called by the account that sends it: the orchestrator at -ethOrchAddr calls its own",
        );
      }
      let on = enabled;
      if (on === null) {
        try {
          on = (await chain.client.transcoderInfo(chain.signer.address)).status === "Registered";
        } catch (err) {
          logger.warn({ err: errorMessage(err) }, "could not read the registration: reward service off");
          on = false;
        }
        if (!on) logger.info("not a registered orchestrator: reward service off (-reward turns it on)");
      }
      if (!on) return;
      service = new RewardService(
        { address: chain.signer.address },
        { client: chain.client, tx: chain.tx, rounds: chain.rounds, logger },
      );
      await service.start();
    },
    async stop() {
      await service?.stop();
    },
    status(s) {
      service?.status(s);
    },
  };
}
