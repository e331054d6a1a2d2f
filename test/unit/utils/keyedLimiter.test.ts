import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { KeyedLimiter } from "../../../src/utils/KeyedLimiter.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("KeyedLimiter", () => {
  it("lets `limit` holders of a key in at once and the rest in arrival order, keys apart", async () => {
    const lim = new KeyedLimiter(2);
    const order: string[] = [];
    const take = (key: string, name: string) =>
      lim.acquire(key).then((release) => {
        order.push(name);
        return release;
      });
    const a = take("s", "a");
    const b = take("s", "b");
    const c = take("s", "c");
    const d = take("s", "d");
    const other = take("t", "x");
    await tick();
    expect(order).toEqual(["a", "b", "x"]);
    expect([lim.running("s"), lim.waiting("s")]).toEqual([2, 2]);
    const releaseB = await b;
    releaseB();
    releaseB(); // twice is once
    await tick();
    expect(order).toEqual(["a", "b", "x", "c"]);
    expect([lim.running("s"), lim.waiting("s")]).toEqual([2, 1]);
    (await a)();
    await tick();
    expect(order).toEqual(["a", "b", "x", "c", "d"]);
    (await c)();
    (await d)();
    (await other)();
    // Nobody running or waiting: nothing kept.
    expect(lim.size).toBe(0);
  });

  it("takes a caller whose signal aborts out of the line, without a slot", async () => {
    const lim = new KeyedLimiter(1);
    const first = await lim.acquire("s");
    const ac = new AbortController();
    const waiting = lim.acquire("s", ac.signal);
    const after = lim.acquire("s");
    await tick();
    expect(lim.waiting("s")).toBe(2);
    ac.abort();
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LpError);
    expect((err as LpError).code).toBe("ABORTED");
    expect((err as LpError).retryable).toBe(true);
    expect(lim.waiting("s")).toBe(1);
    first();
    (await after)();
    expect(lim.size).toBe(0);
    // Already aborted: refused at once, nothing taken.
    await expect(lim.acquire("s", ac.signal)).rejects.toMatchObject({ code: "ABORTED" });
    expect(lim.size).toBe(0);
  });

  it("refuses a limit below one", () => {
    expect(() => new KeyedLimiter(0)).toThrow(RangeError);
    expect(() => new KeyedLimiter(1.5)).toThrow(RangeError);
  });
});
