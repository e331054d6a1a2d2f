import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { CliServer, hostCheck } from "../../../src/http/cliServer.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { baseStatus } from "../../../src/node/status.js";

let server: CliServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

async function start(host = "127.0.0.1"): Promise<CliServer> {
  const changed: string[] = [];
  server = new CliServer(
    { addr: { host, port: 0 }, verbosity: 3 },
    {
      logger: silentLogger(),
      status: () => baseStatus(["gateway"], "offchain", {}, Date.now()),
      routes: [
        { method: "POST", path: "/setThing", handler: (p, reply) => reply.send(changed.push(p["v"] ?? "")) },
        { method: "GET", path: "/thing", handler: (_p, reply) => reply.send(changed.join(",")) },
      ],
    },
  );
  await server.start();
  return server;
}

/** A real HTTP/1.1 request with a chosen Host header (fetch does not let a caller set it). */
function call(
  port: number,
  path: string,
  opts: { method?: string; host?: string; body?: string } = {},
): Promise<{ status: number; body: string; allow: string | undefined }> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        headers: {
          host: opts.host ?? `127.0.0.1:${port}`,
          ...(opts.body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        },
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          done({ status: res.statusCode ?? 0, body, allow: res.headers.allow as string | undefined }),
        );
      },
    );
    req.on("error", fail);
    req.end(opts.body);
  });
}

describe("CLI API Host check (DNS rebinding)", () => {
  it("accepts the node's own address, 127.0.0.1, localhost and [::1], with or without the port", async () => {
    const { port } = await start();
    for (const host of [
      `127.0.0.1:${port}`,
      "127.0.0.1",
      `localhost:${port}`,
      "LOCALHOST",
      `[::1]:${port}`,
      "[::1]",
    ]) {
      expect((await call(port, "/healthz", { host })).status, host).toBe(200);
    }
  });

  it("refuses any other Host with 403 and changes nothing", async () => {
    const { port } = await start();
    for (const host of [
      `evil.example:${port}`,
      "evil.example",
      `127.0.0.1:${port + 1}`,
      `localhost.evil:${port}`,
    ]) {
      const r = await call(port, "/status", { host });
      expect(r.status, host).toBe(403);
      expect(r.body).toMatch(/is not this node's CLI address/);
    }
    const r = await call(port, "/setLogLevel", { method: "POST", host: "evil.example", body: "loglevel=6" });
    expect(r.status).toBe(403);
    expect((await call(port, "/getLogLevel")).body).toBe("3");
  });

  it("bound to every interface, it also takes IP literals but never names", () => {
    const check = hostCheck("0.0.0.0", 7935);
    expect(check("10.1.2.3:7935")).toBe(true);
    expect(check("[fe80::1]:7935")).toBe(true);
    expect(check("10.1.2.3:80")).toBe(false);
    expect(check("attacker.example:7935")).toBe(false);
    expect(hostCheck("10.0.0.5", 7935)("10.0.0.5:7935")).toBe(true);
    expect(hostCheck("10.0.0.5", 7935)("10.0.0.6:7935")).toBe(false);
  });
});

describe("CLI API methods and /setLogLevel values", () => {
  it("state changes need POST: GET gets 405 with Allow: POST", async () => {
    const { port } = await start();
    const r = await call(port, "/setLogLevel?loglevel=6");
    expect(r.status).toBe(405);
    expect(r.allow).toBe("POST");
    expect((await call(port, "/getLogLevel")).body).toBe("3");
    // A role's POST route too; its GET route takes GET and refuses POST.
    expect((await call(port, "/setThing?v=a")).status).toBe(405);
    expect((await call(port, "/setThing", { method: "POST", body: "v=a" })).status).toBe(200);
    expect((await call(port, "/thing")).body).toBe("a");
    const post = await call(port, "/thing", { method: "POST", body: "" });
    expect(post.status).toBe(405);
    expect(post.allow).toBe("GET, HEAD");
  });

  it("takes only integers 0 to 6", async () => {
    const { port } = await start();
    for (const bad of ["99", "7", "1e20", "Infinity", "-1", "2.5", " 3", "0x3"]) {
      const r = await call(port, "/setLogLevel", {
        method: "POST",
        body: `loglevel=${encodeURIComponent(bad)}`,
      });
      expect(r.status, bad).toBe(400);
    }
    expect((await call(port, "/getLogLevel")).body).toBe("3");
    expect((await call(port, "/setLogLevel", { method: "POST", body: "loglevel=6" })).status).toBe(200);
    expect((await call(port, "/getLogLevel")).body).toBe("6");
    expect((await call(port, "/setLogLevel", { method: "POST", body: "loglevel=0" })).status).toBe(200);
    expect((await call(port, "/getLogLevel")).body).toBe("0");
  });
});
