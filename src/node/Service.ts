/**
 * A long-running part of a node. The composition root starts services in dependency order and
 * stops them in reverse; `stop` must be idempotent and safe to call after a failed start.
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  /**
   * Optional first phase of a clean stop, called on every service before any is stopped: take
   * no new work and finish what is in flight, while the services this one needs still run (a
   * gateway's last segments still reach the local orchestrator). It must return soon after
   * `signal` aborts (the node's drain deadline), and must not stop what others rely on.
   */
  drain?(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
