import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LpNodeProcess, runLpNode } from "../helpers/lpNode.js";
import { tempDir } from "../helpers/tmp.js";

const running: LpNodeProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): LpNodeProcess {
  // Never take the gateway's default public port in tests.
  const http = args.includes("gateway") && !args.includes("-httpAddr") ? ["-httpAddr", "127.0.0.1:0"] : [];
  const rtmp = args.includes("gateway") && !args.includes("-rtmpAddr") ? ["-rtmpAddr", "127.0.0.1:0"] : [];
  const p = new LpNodeProcess([...args, ...http, ...rtmp], env);
  running.push(p);
  return p;
}

describe("lp-node binary", () => {
  it("--help lists the roles and flags grouped by area", async () => {
    const r = await runLpNode(["--help"]);
    expect(r.code).toBe(0);
    for (const role of ["gateway", "orchestrator", "transcoder", "redeemer", "remote-signer"]) {
      expect(r.stdout).toContain(`  ${role} `);
    }
    for (const group of [
      "Network and addresses:",
      "Transcoding:",
      "On-chain and payments:",
      "Metrics, logging and storage:",
    ]) {
      expect(r.stdout).toContain(group);
    }
    expect(r.stdout).toMatch(/-orchAddr <string>/);
    expect(r.stdout).toMatch(/-datadir, -dataDir <string>/);
    expect(r.stdout).toMatch(/-orchListenAddr <string>/);
    expect(r.stdout).toContain("What each role listens on by default");
    expect(r.stdout).toMatch(/gateway +media HTTP 127\.0\.0\.1:9935/);
  });

  it("-version prints a semver", async () => {
    const r = await runLpNode(["-version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^lp-node \d+\.\d+\.\d+/);
  });

  it("bad flags exit 2 with every problem listed", async () => {
    const r = await runLpNode(["-orchestrator", "-bogus", "--mode", "nope", "-maxSessions", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown flag -bogus");
    expect(r.stderr).toContain('unknown mode "nope"');
    expect(r.stderr).toContain("-maxSessions must be 'auto' or greater than zero");
  });

  it("configuration mistakes exit 2 before anything starts, one line per problem naming the flag", async () => {
    const r = await runLpNode([
      "--mode",
      "gateway",
      "-transcodingOptions",
      "P999",
      "-orchSecret",
      "./no-such-secret-file",
      "-serviceAdr",
      "h:1",
      "-orchAddr",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("  - -orchAddr needs a value");
    expect(r.stderr).toContain("  - unknown flag -serviceAdr; did you mean -serviceAddr?");
    expect(r.stderr).toContain('  - -transcodingOptions: unknown transcoding profile "P999"');
    expect(r.stderr).toContain("  - -orchSecret: the value looks like a file path");
    expect(r.stderr).not.toContain("no-such-secret-file");
    // A listen host that does not resolve is found before start, not as a bare ENOTFOUND later.
    const dns = await runLpNode([
      "--mode",
      "gateway",
      "-httpAddr",
      "nonsense.invalid",
      "-rtmpAddr",
      "127.0.0.1:0",
    ]);
    expect(dns.code).toBe(2);
    expect(dns.stderr).toMatch(/ {2}- -httpAddr: host "nonsense\.invalid" does not resolve/);
    expect(dns.stderr).not.toMatch(/listening|started/);
  });

  it("no mode exits 2 and names the modes", async () => {
    const r = await runLpNode([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /No services enabled.*gateway, orchestrator, transcoder, redeemer, remote-signer/,
    );
  });

  it("starts, answers /healthz and /status, and stops on SIGTERM with status 0", async () => {
    const datadir = join(tempDir("lp-dd-"), "nested", "data");
    const node = start([
      "--mode",
      "gateway",
      "-cliAddr",
      "127.0.0.1:0",
      "-datadir",
      datadir,
      "-orchSecret",
      "hunter2",
    ]);
    const port = await node.cliPort();
    expect(existsSync(datadir)).toBe(true);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Record<string, unknown>;
    expect(status["Version"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(status["Modes"]).toEqual(["gateway"]);
    expect(status["RegisteredTranscodersNumber"]).toBe(0);
    expect(status).toHaveProperty("OrchestratorPool");
    expect(status).toHaveProperty("Manifests");
    expect(node.stderr).not.toContain("hunter2");
    expect(node.stderr).toContain("orchSecret=***");
    node.child.kill("SIGTERM");
    expect(await node.exited).toEqual({ code: 0, signal: null });
  });

  it("setLogLevel changes verbosity at run time", async () => {
    const node = start(["--mode", "gateway", "-cliAddr", "127.0.0.1:0", "-datadir", tempDir("lp-dd-")]);
    const port = await node.cliPort();
    expect(await (await fetch(`http://127.0.0.1:${port}/getLogLevel`)).text()).toBe("3");
    const set = await fetch(`http://127.0.0.1:${port}/setLogLevel`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "loglevel=6",
    });
    expect(set.status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${port}/getLogLevel`)).text()).toBe("6");
    // State changes need POST; values outside 0..6 are refused.
    const get = await fetch(`http://127.0.0.1:${port}/setLogLevel?loglevel=2`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const huge = await fetch(`http://127.0.0.1:${port}/setLogLevel`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "loglevel=99",
    });
    expect(huge.status).toBe(400);
    expect(await (await fetch(`http://127.0.0.1:${port}/getLogLevel`)).text()).toBe("6");
    node.child.kill("SIGINT");
    expect((await node.exited).code).toBe(0);
  });

  it("a taken port makes the node exit 2 naming the flag that chose it", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const node = start([
        "--mode",
        "gateway",
        "-cliAddr",
        `127.0.0.1:${port}`,
        "-datadir",
        tempDir("lp-dd-"),
      ]);
      const { code } = await node.exited;
      expect(code).toBe(2);
      expect(node.stderr).toContain(
        `lp-node: -cliAddr: cannot listen on 127.0.0.1:${port} (cli, set by -cliAddr): the address is already in use (EADDRINUSE)`,
      );
    } finally {
      blocker.close();
    }
  });

  it("reads a JSON config file and lets env override it", async () => {
    const dir = tempDir("lp-cfg-");
    const file = join(dir, "livepeer.config.json");
    writeFileSync(
      file,
      JSON.stringify({
        mode: "gateway",
        cliAddr: "127.0.0.1:1",
        httpAddr: "127.0.0.1:0",
        rtmpAddr: "127.0.0.1:0",
        datadir: join(dir, "d"),
      }),
    );
    const node = start(["--config", file], { LP_CLIADDR: "127.0.0.1:0" });
    const port = await node.cliPort();
    expect(port).toBeGreaterThan(1);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
  });
});

describe("lp-node bench", () => {
  it("transcodes real segments and prints a JSON report", async () => {
    const r = await runLpNode(
      ["bench", "-segs", "2", "-transcodingOptions", "P144p30fps16x9", "--json"],
      {},
      120_000,
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.segments).toBe(2);
    expect(report.failed).toBe(0);
    expect(report.realTimeRatio).toBeGreaterThan(0);
    expect(typeof report.overheadPercent).toBe("number");
    // 1080p source, 256x144 output, 30 fps, 2 s: 60 frames per segment.
    expect(report.rows[1].pixels).toBe(60 * 256 * 144);
  }, 120_000);
  it("refuses bad flags with exit 2", async () => {
    const r = await runLpNode(["bench", "-transcodingOptions", "P999", "-concurrentSessions", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown transcoding profile "P999"');
    expect(r.stderr).toContain("-concurrentSessions must be an integer >= 1");
  });
});
