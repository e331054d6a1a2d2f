import { randomBytes } from "node:crypto";

/** One part of a multipart/mixed body. */
export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** A boundary like go-livepeer's common.RandName(): 20 lowercase hex characters. */
export function randomBoundary(): string {
  return randomBytes(10).toString("hex");
}

/**
 * Build a multipart body the way Go's mime/multipart writer does (CRLF delimiters, headers
 * sorted by name, a closing delimiter), as go-livepeer writes /transcodeResults and push replies.
 */
export function buildMultipart(parts: Part[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  parts.forEach((part, i) => {
    const lines = [`${i === 0 ? "" : "\r\n"}--${boundary}`];
    for (const name of Object.keys(part.headers).sort()) lines.push(`${name}: ${part.headers[name]}`);
    chunks.push(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), part.body);
  });
  chunks.push(Buffer.from(`${parts.length === 0 ? "" : "\r\n"}--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** The media type and parameters of a Content-Type header, or an error text like Go's mime package. */
export function parseContentType(
  value: string | undefined,
): { type: string; params: Record<string, string> } | { error: string } {
  if (!value || value.trim() === "") return { error: "mime: no media type" };
  const [rawType, ...rest] = value.split(";");
  const type = rawType!.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type))
    return { error: "mime: expected slash after first token" };
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf("=");
    if (eq < 0) {
      if (p.trim() === "") continue;
      return { error: "mime: invalid media parameter" };
    }
    params[p.slice(0, eq).trim().toLowerCase()] = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1");
  }
  return { type, params };
}

/**
 * Split a multipart body into parts (RFC 2046). Header names come back lower-case. Throws on a
 * body without the boundary or without its closing delimiter.
 */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new Error("multipart: boundary not found");
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === "--") return parts;
    // Skip transport padding and the CRLF after the delimiter.
    const lineEnd = body.indexOf("\r\n", pos);
    if (lineEnd < 0) throw new Error("multipart: truncated part");
    const headerEnd = body.indexOf("\r\n\r\n", lineEnd);
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), lineEnd);
    if (next < 0) throw new Error("multipart: missing closing boundary");
    const headers: Record<string, string> = {};
    let bodyStart: number;
    if (headerEnd >= 0 && headerEnd < next) {
      for (const line of body
        .subarray(lineEnd + 2, headerEnd)
        .toString("latin1")
        .split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      bodyStart = headerEnd + 4;
    } else {
      bodyStart = lineEnd + 2 + (body.subarray(lineEnd + 2, lineEnd + 4).toString() === "\r\n" ? 2 : 0);
    }
    parts.push({ headers, body: body.subarray(bodyStart, next) });
    pos = next + 2;
  }
}
