import type { Clock, ClockTimer } from "../../src/utils/clock.js";

interface Pending {
  id: number;
  at: number;
  fn: () => void;
  every: number | null;
}

/**
 * A clock that moves only when told to: timers fire in time order during advance(), with
 * promise callbacks run between them, so code under test sees time pass as it would for real.
 */
export class ManualClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, Pending>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    return this.add(fn, ms, null);
  }

  clearTimeout(timer: ClockTimer): void {
    this.timers.delete((timer as { id: number }).id);
  }

  setInterval(fn: () => void, ms: number): ClockTimer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearInterval(timer: ClockTimer): void {
    this.clearTimeout(timer);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await flush();
    for (;;) {
      const due = [...this.timers.values()]
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.time = Math.max(this.time, due.at);
      if (due.every === null) this.timers.delete(due.id);
      else due.at += due.every;
      due.fn();
      await flush();
    }
    this.time = end;
    await flush();
  }

  private add(fn: () => void, ms: number, every: number | null): ClockTimer {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn, every });
    return { id, unref: () => undefined } as ClockTimer;
  }
}

/** Let pending promise callbacks run (several rounds, for chains of awaits). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
