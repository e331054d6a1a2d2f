/**
 * A long-running part of a node. The composition root starts services in dependency order and
 * stops them in reverse; `stop` must be idempotent and safe to call after a failed start.
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
