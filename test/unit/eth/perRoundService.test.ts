import { describe, expect, it } from "vitest";
import { PerRoundService, type RoundSource } from "../../../src/eth/PerRoundService.js";
import type { RoundState } from "../../../src/eth/RoundWatcher.js";

function state(currentRound: bigint, initialized: boolean): RoundState {
  return {
    currentRound,
    initialized,
    locked: false,
    lastInitializedRound: initialized ? currentRound : currentRound - 1n,
    lastInitializedBlockHash: "0x00",
    preLastInitializedBlockHash: "0x00",
    currentRoundStartBlock: currentRound * 50n,
    transcoderPoolSize: 1n,
    lastSeenL1Block: currentRound * 50n,
  };
}

/** A round source the test moves by hand. */
class ManualRounds implements RoundSource {
  private handlers = new Set<(s: RoundState, p: RoundState | null) => unknown>();
  constructor(public state: RoundState) {}
  subscribe(handler: (s: RoundState, p: RoundState | null) => unknown): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  set(next: RoundState): void {
    const previous = this.state;
    this.state = next;
    for (const h of this.handlers) h(next, previous);
  }
  get subscribers(): number {
    return this.handlers.size;
  }
}

/** Acts on initialised rounds; a round in `failOnce` is given back once to be looked at again. */
class Recorder extends PerRoundService {
  readonly name = "recorder";
  readonly log: string[] = [];
  private release: (() => void) | null = null;
  constructor(
    rounds: RoundSource,
    private readonly failOnce = new Set<bigint>(),
    private readonly hold = false,
  ) {
    super(rounds);
  }
  protected wants(s: RoundState): boolean {
    return s.initialized;
  }
  protected async handleRound(round: bigint): Promise<void> {
    this.log.push(`start ${round}`);
    if (this.hold) await new Promise<void>((r) => (this.release = r));
    if (this.failOnce.delete(round)) {
      this.handledRound = round - 1n;
      this.log.push(`retry ${round}`);
      return;
    }
    this.log.push(`done ${round}${this.abort.signal.aborted ? " (aborted)" : ""}`);
  }
  finish(): void {
    this.release?.();
  }
}

describe("PerRoundService", () => {
  it("acts once per wanted round, in order, on the round at start and the ones after", async () => {
    const rounds = new ManualRounds(state(5n, true));
    const s = new Recorder(rounds);
    await s.start();
    rounds.set(state(5n, true)); // the same round again: nothing new
    rounds.set(state(6n, false)); // not wanted yet
    rounds.set(state(6n, true));
    rounds.set(state(4n, true)); // an older round never comes back
    rounds.set(state(7n, true));
    await s.settled();
    expect(s.log).toEqual(["start 5", "done 5", "start 6", "done 6", "start 7", "done 7"]);
    await s.stop();
  });

  it("looks at a round again at the next update when the work gives it back", async () => {
    const rounds = new ManualRounds(state(3n, true));
    const s = new Recorder(rounds, new Set([3n]));
    await s.start();
    await s.settled();
    expect(s.log).toEqual(["start 3", "retry 3"]);
    rounds.set(state(3n, true));
    await s.settled();
    expect(s.log).toEqual(["start 3", "retry 3", "start 3", "done 3"]);
    await s.stop();
  });

  it("stop unsubscribes, aborts the work in hand and waits for it; later rounds are ignored", async () => {
    const rounds = new ManualRounds(state(1n, true));
    const s = new Recorder(rounds, new Set(), true);
    await s.start();
    expect(rounds.subscribers).toBe(1);
    let stopped = false;
    const stopping = s.stop().then(() => {
      stopped = true;
    });
    await Promise.resolve();
    expect(stopped).toBe(false);
    expect(rounds.subscribers).toBe(0);
    s.finish();
    await stopping;
    expect(s.log).toEqual(["start 1", "done 1 (aborted)"]);
    rounds.set(state(2n, true));
    await s.settled();
    expect(s.log).toEqual(["start 1", "done 1 (aborted)"]);
    await s.stop(); // idempotent
  });
});
