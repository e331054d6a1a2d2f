import { LpError } from "../errors/LpError.js";

interface Waiter {
  start: () => void;
}

interface Lane {
  running: number;
  waiting: Waiter[];
}

/**
 * At most `limit` holders per key at once; later callers wait their turn in arrival order. A
 * slot given back goes straight to the oldest waiter. A caller whose signal aborts while it
 * waits leaves the line (LpError ABORTED, retryable) and takes nothing. Keys with nobody running
 * or waiting are forgotten, so the map holds only live keys.
 */
export class KeyedLimiter {
  private readonly lanes = new Map<string, Lane>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be an integer >= 1");
  }

  /** Wait for a slot of `key`; resolves with the function that gives it back (safe to call twice). */
  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw cancelled();
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { running: 0, waiting: [] };
      this.lanes.set(key, lane);
    }
    if (lane.running < this.limit) {
      lane.running += 1;
      return this.releaser(key, lane);
    }
    const l = lane;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = l.waiting.indexOf(waiter);
        if (i >= 0) l.waiting.splice(i, 1);
        this.forgetIfIdle(key, l);
        reject(cancelled());
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      l.waiting.push(waiter);
    });
    return this.releaser(key, l);
  }

  /** Holders of `key` now. */
  running(key: string): number {
    return this.lanes.get(key)?.running ?? 0;
  }

  /** Callers waiting for `key` now. */
  waiting(key: string): number {
    return this.lanes.get(key)?.waiting.length ?? 0;
  }

  /** Keys with anyone running or waiting. */
  get size(): number {
    return this.lanes.size;
  }

  private releaser(key: string, lane: Lane): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = lane.waiting.shift();
      // The slot passes to the next in line as it is, so nobody can jump the queue in between.
      if (next) next.start();
      else {
        lane.running -= 1;
        this.forgetIfIdle(key, lane);
      }
    };
  }

  private forgetIfIdle(key: string, lane: Lane): void {
    if (lane.running === 0 && lane.waiting.length === 0 && this.lanes.get(key) === lane)
      this.lanes.delete(key);
  }
}

const cancelled = () => new LpError("ABORTED", "cancelled while waiting for its turn", { retryable: true });
