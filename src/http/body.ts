import type { Readable } from "node:stream";
import { LpError } from "../errors/LpError.js";

export interface ReadBodyOptions {
  /** Largest body accepted, declared or actual. */
  limit: number;
  /** The request's Content-Length header, if any. */
  contentLength?: string | undefined;
  /** The whole body must have arrived within this many ms; absent means no bound. */
  deadlineMs?: number;
  /**
   * Called with each chunk's size when no length was declared, so the caller can account for
   * memory as it arrives; returning false stops the read with UPLOADS_BUSY.
   */
  reserve?: (bytes: number) => boolean;
}

/** The declared Content-Length when it is a plain non-negative integer, else null. */
export function declaredLength(header: string | undefined): number | null {
  if (header === undefined || !/^\d{1,15}$/.test(header)) return null;
  return Number(header);
}

/**
 * Read a request body with a size cap and a deadline. Errors are LpErrors: BODY_TOO_LARGE
 * (declared or actual), UPLOAD_TIMEOUT, BODY_INCOMPLETE (the peer stopped early or the stream
 * was reset). The stream is left paused on error; the caller answers and cuts the request.
 *
 * Memory: with a sane Content-Length the body is written into one buffer of that size as the
 * chunks arrive, so each chunk can be freed at once and the peak is about the body's size;
 * collecting chunks and concatenating at the end held both copies (twice the body) and left
 * hundreds of MB of small chunk allocations for the allocator to give back.
 */
export function readBody(stream: Readable, options: ReadBodyOptions): Promise<Buffer> {
  const declared = declaredLength(options.contentLength);
  if (declared !== null && declared > options.limit) {
    return Promise.reject(
      new LpError("BODY_TOO_LARGE", `body of ${declared} bytes exceeds ${options.limit}`),
    );
  }
  return new Promise<Buffer>((resolve, reject) => {
    let target: Buffer | null = declared !== null ? Buffer.allocUnsafe(declared) : null;
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const timer =
      options.deadlineMs === undefined
        ? null
        : setTimeout(
            () =>
              finish(
                new LpError(
                  "UPLOAD_TIMEOUT",
                  `body not received within ${Math.round(options.deadlineMs! / 1000)} s`,
                ),
              ),
            options.deadlineMs,
          );
    const finish = (err: Error | null, body?: Buffer) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onClose);
      if (err) {
        stream.pause();
        target = null;
        chunks.length = 0;
        reject(err);
      } else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > (declared ?? options.limit)) {
        finish(
          declared !== null && total <= options.limit
            ? new LpError("BODY_INCOMPLETE", `body longer than its Content-Length of ${declared}`)
            : new LpError("BODY_TOO_LARGE", `body exceeds ${options.limit} bytes`),
        );
        return;
      }
      if (target) chunk.copy(target, total - chunk.length);
      else if (options.reserve && !options.reserve(chunk.length)) {
        finish(new LpError("UPLOADS_BUSY", "too many uploads in progress; try again"));
        return;
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      if (target) {
        if (total !== target.length) {
          finish(new LpError("BODY_INCOMPLETE", `body of ${total} bytes, ${target.length} declared`));
          return;
        }
        finish(null, target);
      } else finish(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (err: Error) =>
      finish(new LpError("BODY_INCOMPLETE", `body not received: ${err.message}`, { cause: err }));
    const onClose = () => finish(new LpError("BODY_INCOMPLETE", "the peer went away during the upload"));
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    stream.on("close", onClose);
    stream.resume();
  });
}
