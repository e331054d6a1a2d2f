import type { EventEmitter } from "node:events";
import { errorMessage } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";

/** go-livepeer's shutdownTimeout: after the first signal the node has this long to stop. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/**
 * The part of SHUTDOWN_TIMEOUT_MS the drain phase may use (ingest flushing its last segments
 * through the local orchestrator); the rest is left for the services to stop.
 */
export const DRAIN_TIMEOUT_MS = 6_000;

/** What exitOnSignals stops: the node. `forceStop` runs when waiting is over (kill children now). */
export interface Stoppable {
  stop(): Promise<void>;
  forceStop?(): void;
}

/**
 * Resolves with the exit status once the node has stopped after SIGINT/SIGTERM: 0 for a clean
 * stop, 1 when stopping failed, a second signal arrived, or the timeout ran out
 * (cmd/livepeer/livepeer.go: "Shutdown timed out, forcing exit").
 */
export function exitOnSignals(
  stoppable: Stoppable,
  deps: { logger: Logger; signals: EventEmitter; timeoutMs?: number },
): Promise<number> {
  const { logger, signals } = deps;
  return new Promise((resolve) => {
    let count = 0;
    // A fatal error inside the node stops it like a signal would, but ends with status 1.
    signals.on("fatal", () => {
      count += 1;
      if (count > 1) return;
      setTimeout(() => {
        stoppable.forceStop?.();
        resolve(1);
      }, deps.timeoutMs ?? SHUTDOWN_TIMEOUT_MS).unref();
      stoppable.stop().then(
        () => resolve(1),
        () => resolve(1),
      );
    });
    const onSignal = (sig: string) => {
      count += 1;
      if (count > 1) {
        logger.warn({ signal: sig }, "second signal, forcing exit");
        stoppable.forceStop?.();
        resolve(1);
        return;
      }
      logger.info({ signal: sig }, "shutting down");
      setTimeout(() => {
        logger.error("Shutdown timed out, forcing exit");
        stoppable.forceStop?.();
        resolve(1);
      }, deps.timeoutMs ?? SHUTDOWN_TIMEOUT_MS).unref();
      stoppable.stop().then(
        () => resolve(0),
        (err) => {
          logger.error({ err: errorMessage(err) }, "shutdown failed");
          resolve(1);
        },
      );
    };
    signals.on("SIGINT", onSignal);
    signals.on("SIGTERM", onSignal);
  });
}
