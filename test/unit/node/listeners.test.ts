import { createServer, type Server } from "node:net";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type NodeConfig, resolveConfig } from "../../../src/config/resolve.js";
import { createLogger, silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { ListenError, listenFailure } from "../../../src/node/listeners.js";
import { tempDir } from "../../helpers/tmp.js";

const blockers: Server[] = [];
afterEach(() => {
  for (const b of blockers.splice(0)) b.close();
});

function config(args: string[]): NodeConfig {
  const datadir = tempDir("lp-listen-");
  const r = resolveConfig([...args, "-datadir", datadir], { env: {}, readFile: () => null });
  if (r.kind !== "ok") throw new Error(JSON.stringify(r));
  return r.config;
}

async function takenPort(): Promise<number> {
  const blocker = createServer();
  blockers.push(blocker);
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  return (blocker.address() as { port: number }).port;
}

describe("listen failures", () => {
  it("a taken port names the flag that chose it", async () => {
    const port = await takenPort();
    const node = new LpNode(config(["-gateway", "-cliAddr", `127.0.0.1:${port}`]), {
      logger: silentLogger(),
      roles: { gateway: () => ({ services: [] }) },
    });
    const err = await node.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ListenError);
    expect((err as ListenError).flag).toBe("-cliAddr");
    expect((err as Error).message).toBe(
      `-cliAddr: cannot listen on 127.0.0.1:${port} (cli, set by -cliAddr): the address is already in use (EADDRINUSE); choose another with -cliAddr`,
    );
  });

  it("maps EACCES and EADDRNOTAVAIL to the listener on that port, other errors pass through", () => {
    const c = config(["--mode", "gateway,orchestrator,transcoder", "-serviceAddr", "127.0.0.1:8935"]);
    const err = (code: string, port: number) =>
      Object.assign(new Error(`listen ${code}`), { code, address: "127.0.0.1", port, syscall: "listen" });
    expect(listenFailure(err("EACCES", 8935), c.listeners)?.message).toMatch(
      /^-serviceAddr: cannot listen on 127\.0\.0\.1:8935 \(orchestrator, the -serviceAddr port on loopback.*needs privileges.*choose another with -orchListenAddr$/,
    );
    expect(listenFailure(err("EADDRNOTAVAIL", 1935), c.listeners)?.message).toMatch(
      /^-rtmpAddr: .*is not an address of this machine/,
    );
    expect(listenFailure(err("ECONNRESET", 1935), c.listeners)).toBeNull();
    expect(listenFailure(err("EADDRINUSE", 4), c.listeners)).toBeNull();
  });
});

describe("bound addresses", () => {
  it("logs one line per listener with its flag and reports the bound ports in /status", async () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk;
        done();
      },
    });
    const node = new LpNode(config(["-gateway", "-cliAddr", "127.0.0.1:0"]), {
      logger: createLogger({ level: "info", pretty: false, destination: sink }),
      roles: {
        gateway: () => ({ services: [], status: (s) => Object.assign(s, { GatewayHTTPPort: 4321 }) }),
      },
    });
    await node.start();
    try {
      const lines = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => typeof l["listener"] === "string");
      expect(lines.map((l) => [l["listener"], l["addr"], l["flag"]])).toEqual([
        ["http", "127.0.0.1:4321", "-httpAddr"],
        ["rtmp", "127.0.0.1:1935", "-rtmpAddr"],
        ["cli", `127.0.0.1:${node.cliPort}`, "-cliAddr"],
      ]);
      expect(node.status().Addresses).toEqual({
        http: "127.0.0.1:4321",
        rtmp: "127.0.0.1:1935",
        cli: `127.0.0.1:${node.cliPort}`,
      });
    } finally {
      await node.stop();
    }
  });
});
