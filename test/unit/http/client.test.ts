import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpClient, HttpClientError } from "../../../src/http/client.js";
import { selfSignedCert } from "../../../src/http/tls.js";

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

/** A TLS server like an orchestrator's port (HTTP/2 with HTTP/1.1 allowed) that counts handshakes. */
async function startServer(handler: Handler) {
  const server = http2.createSecureServer({ ...selfSignedCert("127.0.0.1"), allowHTTP1: true }, handler);
  const stats = { handshakes: 0, versions: [] as string[] };
  server.on("secureConnection", () => {
    stats.handshakes += 1;
  });
  server.on("request", (req) => stats.versions.push(req.httpVersion));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // Sessions the client keeps alive would hold close() open.
        for (const s of sessions) s.destroy();
      }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  return { server, origin, stats };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(opts: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) {
  const c = new HttpClient({ insecureTls: true, ...opts });
  cleanups.push(() => c.close());
  return c;
}

const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => res.writeHead(200, { "x-method": req.method }).end(Buffer.concat(chunks)));
};

describe("HttpClient", () => {
  it("reuses one TLS session and HTTP/2 connection for many requests to one origin", async () => {
    const { origin, stats } = await startServer(echo);
    const c = client();
    for (let i = 0; i < 5; i++) {
      const res = await c.request(`${origin}/segment`, {
        method: "POST",
        body: Buffer.from(`segment ${i}`),
        timeoutMs: 10_000,
      });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`segment ${i}`);
    }
    // Concurrent posts multiplex on the same session too.
    const many = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        c.request(`${origin}/segment`, { method: "POST", body: `c${i}`, timeoutMs: 10_000 }),
      ),
    );
    expect(many.map((r) => r.body.toString())).toEqual(["c1", "c2", "c3", "c4"]);
    expect(stats.handshakes).toBe(1);
    expect(new Set(stats.versions)).toEqual(new Set(["2.0"]));
  });

  it("skips certificate checks only when told to (orchestrators), not for webhooks", async () => {
    const { origin } = await startServer(echo);
    expect((await client().request(`${origin}/`, { timeoutMs: 10_000 })).status).toBe(200);
    const strict = client({ insecureTls: false });
    const err = await strict.request(`${origin}/`, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpClientError);
    expect((err as HttpClientError).code).toBe("HTTP_FAILED");
    expect((err as Error).message).toMatch(/certificate/i);
  });

  it("caps the answer size, declared or streamed", async () => {
    const { origin } = await startServer((req, res) => {
      if (req.url === "/declared") res.writeHead(200, { "content-length": "1000" }).end(Buffer.alloc(1000));
      else {
        res.writeHead(200);
        res.write(Buffer.alloc(600));
        res.end(Buffer.alloc(600));
      }
    });
    const c = client({ maxResponseBytes: 1000 });
    expect((await c.request(`${origin}/declared`, { timeoutMs: 10_000 })).body.length).toBe(1000);
    for (const [path, max] of [
      ["/declared", 999],
      ["/streamed", undefined],
    ] as const) {
      const err = await c
        .request(`${origin}${path}`, { timeoutMs: 10_000, maxResponseBytes: max })
        .catch((e: unknown) => e);
      expect((err as HttpClientError).code, path).toBe("HTTP_TOO_LARGE");
    }
  });

  it("times out waiting for headers and for the whole answer, and honours an AbortSignal", async () => {
    const { origin } = await startServer((req, res) => {
      if (req.url === "/slow-body") {
        res.writeHead(200);
        res.write("partial");
      }
      // Otherwise never answer.
    });
    const c = client();
    const headers = await c
      .request(`${origin}/hang`, {
        method: "POST",
        body: "x",
        timeoutMs: 30_000,
        headersTimeoutMs: 100,
        headersTimeoutText: "segment upload timed out",
      })
      .catch((e: unknown) => e);
    expect(headers).toMatchObject({ code: "HTTP_TIMEOUT", message: "segment upload timed out" });
    const whole = await c
      .request(`${origin}/slow-body`, { timeoutMs: 200, headersTimeoutMs: 30_000 })
      .catch((e: unknown) => e);
    expect(whole).toMatchObject({ code: "HTTP_TIMEOUT" });
    const ac = new AbortController();
    const pending = c.request(`${origin}/hang`, { timeoutMs: 30_000, signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: "HTTP_ABORTED" });
  });

  it("fails fast on a refused connection and refuses requests after close()", async () => {
    const { origin, server } = await startServer(echo);
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const c = client();
    await expect(c.request(`https://127.0.0.1:${port}/`, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: "HTTP_FAILED",
      message: expect.stringMatching(/ECONNREFUSED/),
    });
    await c.close();
    await expect(c.request(`${origin}/`, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: "HTTP_ABORTED",
    });
  });
});
