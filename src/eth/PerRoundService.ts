import type { Service } from "../node/Service.js";
import type { RoundState } from "./RoundWatcher.js";

/** The round source the per-round services follow (the chain's RoundWatcher). */
export interface RoundSource {
  readonly state: RoundState;
  subscribe(handler: (state: RoundState, previous: RoundState | null) => unknown): () => void;
}

/**
 * A service that acts once per round (the reward service, the round initializer): each new round
 * it wants is queued behind the previous one's work, so rounds are handled one at a time and in
 * order; stop aborts the signal and waits for the work in hand.
 */
export abstract class PerRoundService implements Service {
  abstract readonly name: string;
  /** The last round queued; a subclass lowers it to have a round looked at again. */
  protected handledRound = -1n;
  protected readonly abort = new AbortController();
  private work: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;

  constructor(protected readonly rounds: RoundSource) {}

  /** Whether a round in this state is one to act on. */
  protected abstract wants(state: RoundState): boolean;

  /** The work for one round; it never throws (failures are the subclass's to log and retry). */
  protected abstract handleRound(round: bigint): Promise<void>;

  async start(): Promise<void> {
    this.unsubscribe = this.rounds.subscribe((state) => this.onRound(state));
    this.onRound(this.rounds.state);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.abort.abort();
    await this.work;
  }

  /** Resolves once the work queued so far is done (tests). */
  settled(): Promise<void> {
    return this.work;
  }

  private onRound(state: RoundState): void {
    if (!this.wants(state) || state.currentRound <= this.handledRound || this.abort.signal.aborted) return;
    const round = state.currentRound;
    this.handledRound = round;
    this.work = this.work.then(() => this.handleRound(round));
  }
}
