import { errorMessage } from "../errors/LpError.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { sleep } from "../utils/sleep.js";
import { roundsManagerAbi } from "./abis.js";
import type { Chain } from "./Chain.js";
import type { ChainClient } from "./ChainClient.js";
import { PerRoundService, type RoundSource } from "./PerRoundService.js";
import type { RoundState } from "./RoundWatcher.js";
import type { TxManager } from "./TxManager.js";

/** Options of the round initializer (-initializeRound, -initializeRoundMaxDelay). */
export interface RoundInitializerOptions {
  /** Longest random wait before initialising, in ms (-initializeRoundMaxDelay; 0 for none). */
  maxDelayMs: number;
  /** A uniform number in [0, 1) (Math.random by default; tests inject their own). */
  random?: (() => number) | undefined;
}

/** Collaborators of the round initializer. */
export interface RoundInitializerDeps {
  client: ChainClient;
  tx: Pick<TxManager, "writeContract">;
  rounds: RoundSource;
  logger?: Logger | undefined;
  onEvent?:
    | ((event: { kind: "initialized" | "already-initialized" | "failed"; round: bigint }) => void)
    | undefined;
}

/**
 * Initialises each new round that nobody has yet (go-livepeer's eth/roundinitializer.go): after a
 * random wait up to the maximum delay, so that several nodes doing this rarely race, it checks
 * again and sends initializeRound. A round someone else initialised first is not an error.
 */
export class RoundInitializer extends PerRoundService {
  readonly name = "round-initializer";
  private readonly log: Logger;

  constructor(
    private readonly options: RoundInitializerOptions,
    private readonly deps: RoundInitializerDeps,
  ) {
    super(deps.rounds);
    this.log = (deps.logger ?? silentLogger()).child({ module: "round-initializer" });
  }

  protected wants(state: RoundState): boolean {
    return !state.initialized;
  }

  protected async handleRound(round: bigint): Promise<void> {
    const { client } = this.deps;
    const delay = Math.floor((this.options.random ?? Math.random)() * this.options.maxDelayMs);
    if (delay > 0) {
      this.log.debug({ round: round.toString(), delayMs: delay }, "waiting before initialising the round");
      await sleep(delay, this.abort.signal);
    }
    if (this.abort.signal.aborted) return;
    try {
      const [current, initialized] = await Promise.all([
        client.currentRound(),
        client.currentRoundInitialized(),
      ]);
      if (current !== round || initialized) {
        this.log.debug({ round: round.toString() }, "round already initialised");
        this.deps.onEvent?.({ kind: "already-initialized", round });
        return;
      }
      const result = await this.deps.tx.writeContract({
        address: client.addresses.RoundsManager,
        abi: roundsManagerAbi,
        functionName: "initializeRound",
        signal: this.abort.signal,
      });
      this.log.info({ round: round.toString(), tx: result.hash }, "initialised the round");
      this.deps.onEvent?.({ kind: "initialized", round });
    } catch (err) {
      const error = errorMessage(err);
      if (/round already initialized/.test(error)) {
        this.log.debug({ round: round.toString() }, "round already initialised");
        this.deps.onEvent?.({ kind: "already-initialized", round });
        return;
      }
      this.log.warn({ round: round.toString(), err: error }, "could not initialise the round");
      // Tried again at the watcher's next update (a new block), as go-livepeer does.
      if (this.handledRound === round) this.handledRound = round - 1n;
      this.deps.onEvent?.({ kind: "failed", round });
    }
  }
}

/** The node's round initializer for -initializeRound, built when the chain layer has started. */
export function chainRoundInitializer(
  chain: Pick<Chain, "client" | "tx" | "rounds">,
  maxDelayMs: number,
  logger: Logger,
): Service {
  let service: RoundInitializer | null = null;
  return {
    name: "round-initializer",
    async start() {
      service = new RoundInitializer(
        { maxDelayMs },
        { client: chain.client, tx: chain.tx, rounds: chain.rounds, logger },
      );
      await service.start();
    },
    async stop() {
      await service?.stop();
    },
  };
}
