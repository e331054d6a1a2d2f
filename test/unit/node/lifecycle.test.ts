import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { type NodeConfig, resolveConfig } from "../../../src/config/resolve.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import type { Service } from "../../../src/node/Service.js";
import { exitOnSignals } from "../../../src/node/shutdown.js";
import { tempDir } from "../../helpers/tmp.js";

function config(): NodeConfig {
  const r = resolveConfig(["-gateway", "-cliAddr", "127.0.0.1:0", "-datadir", tempDir()], {
    env: {},
    readFile: () => null,
  });
  if (r.kind !== "ok") throw new Error("bad config");
  return r.config;
}

function recorder(log: string[], name: string, failStart = false): Service {
  return {
    name,
    async start() {
      if (failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

describe("LpNode", () => {
  it("starts services in order and stops them in reverse, once", async () => {
    const log: string[] = [];
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: { gateway: () => ({ services: [recorder(log, "a"), recorder(log, "b")] }) },
    });
    await node.start();
    expect(node.cliPort).toBeGreaterThan(0);
    await Promise.all([node.stop(), node.stop()]);
    expect(log).toEqual(["start a", "start b", "stop b", "stop a"]);
  });

  it("a failed start stops what was started and rethrows", async () => {
    const log: string[] = [];
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: {
        gateway: () => ({ services: [recorder(log, "a"), recorder(log, "bad", true), recorder(log, "c")] }),
      },
    });
    await expect(node.start()).rejects.toThrow("bad cannot start");
    expect(log).toEqual(["start a", "stop a"]);
  });

  it("status merges the roles' contributions into go-livepeer's NodeStatus", async () => {
    const node = new LpNode(config(), {
      logger: silentLogger(),
      roles: { gateway: () => ({ services: [], status: (s) => s.OrchestratorPool.push("https://o:1") }) },
    });
    await node.start();
    const s = node.status();
    expect(s.OrchestratorPool).toEqual(["https://o:1"]);
    expect(s.Modes).toEqual(["gateway"]);
    expect(s.Addresses["cli"]).toBe(`127.0.0.1:${node.cliPort}`);
    await node.stop();
  });
});

describe("exitOnSignals", () => {
  it("exits 0 after a clean stop", async () => {
    const signals = new EventEmitter();
    const status = exitOnSignals({ stop: async () => {} }, { logger: silentLogger(), signals });
    signals.emit("SIGTERM", "SIGTERM");
    expect(await status).toBe(0);
  });
  it("forces status 1 when stopping outlasts the timeout", async () => {
    const signals = new EventEmitter();
    const status = exitOnSignals(
      { stop: () => new Promise(() => {}) },
      { logger: silentLogger(), signals, timeoutMs: 50 },
    );
    signals.emit("SIGINT", "SIGINT");
    expect(await status).toBe(1);
  });
  it("forces status 1 on a second signal", async () => {
    const signals = new EventEmitter();
    const status = exitOnSignals(
      { stop: () => new Promise(() => {}) },
      { logger: silentLogger(), signals, timeoutMs: 60_000 },
    );
    signals.emit("SIGTERM", "SIGTERM");
    signals.emit("SIGTERM", "SIGTERM");
    expect(await status).toBe(1);
  });
  it("exits 1 when stop fails", async () => {
    const signals = new EventEmitter();
    const status = exitOnSignals(
      { stop: async () => Promise.reject(new Error("x")) },
      { logger: silentLogger(), signals },
    );
    signals.emit("SIGTERM", "SIGTERM");
    expect(await status).toBe(1);
  });
});

describe("fatal errors", () => {
  it("exit with status 1 after stopping", async () => {
    const signals = new EventEmitter();
    let stopped = false;
    const status = exitOnSignals(
      {
        stop: async () => {
          stopped = true;
        },
      },
      { logger: silentLogger(), signals },
    );
    signals.emit("fatal");
    expect(await status).toBe(1);
    expect(stopped).toBe(true);
  });
});
