/** Options of waitFor: how long to keep trying, how often, and what to say on failure. */
export interface WaitOptions {
  /** Give up after this long; default 20 s. */
  timeoutMs?: number;
  /** Wait between tries; default 50 ms. */
  intervalMs?: number;
  /** Named in the error when the time runs out. */
  what?: string;
}

/**
 * Poll `check` until it returns something other than false, null or undefined (or stops
 * throwing), and resolve with that value; reject after `timeoutMs` with the last error. The one
 * polling loop tests use, instead of ad-hoc `while (!cond) sleep` loops.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 50;
  const end = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== null && value !== undefined)
        return value as Exclude<T, false | null | undefined>;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= end) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`${options.what ?? "condition"} not met within ${timeoutMs} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
