/**
 * Base class of every typed error in lp-node. `code` is stable and machine-readable
 * (e.g. TICKET_EXPIRED, FFMPEG_EXITED); edges (HTTP, gRPC, CLI) map codes to status codes once.
 */
export class LpError extends Error {
  readonly code: string;
  /** Whether retrying the same work elsewhere may succeed (go-livepeer's retryable class). */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Narrow an unknown thrown value to an LpError carrying `code`. */
export function isLpError(err: unknown, code?: string): err is LpError {
  return err instanceof LpError && (code === undefined || err.code === code);
}

/** Text of an unknown thrown value, for logs and error responses. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
