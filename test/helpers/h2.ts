import http2 from "node:http2";
import https from "node:https";

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** ms from request start to response headers, and to the end of the body. */
  headersMs: number;
  bodyMs: number;
}

/** One HTTP/2 request over TLS without certificate checks, as go-livepeer's gateway sends it. */
export function h2request(
  origin: string,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    timeoutMs?: number;
  } = {},
): Promise<H2Response> {
  return new Promise((done, fail) => {
    const started = Date.now();
    const session = http2.connect(origin, { rejectUnauthorized: false });
    session.on("error", fail);
    const req = session.request({
      ":method": options.method ?? "GET",
      ":path": path,
      ...(options.headers ?? {}),
    });
    const timer = setTimeout(() => {
      session.destroy();
      fail(new Error(`timeout on ${path}`));
    }, options.timeoutMs ?? 30_000);
    let headers: http2.IncomingHttpHeaders = {};
    let headersMs = 0;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      headers = h;
      headersMs = Date.now() - started;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      clearTimeout(timer);
      session.close();
      done({
        status: Number(headers[":status"]),
        headers,
        body: Buffer.concat(chunks),
        headersMs,
        bodyMs: Date.now() - started,
      });
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      session.destroy();
      fail(err);
    });
    req.end(options.body);
  });
}

/** One HTTP/1.1 request over TLS without certificate checks. */
export function h1request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; body: Buffer; alpn: string | false }> {
  return new Promise((done, fail) => {
    const req = https.request(
      url,
      { method: options.method ?? "GET", headers: options.headers, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        const alpn = (res.socket as import("node:tls").TLSSocket | null)?.alpnProtocol ?? false;
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), alpn }));
      },
    );
    req.on("error", fail);
    req.end(options.body);
  });
}
