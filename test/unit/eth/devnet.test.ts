import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import {
  DEVNET_CHAIN_ID,
  type DevnetDocument,
  describeDevnet,
  devnetCommand,
  nodeFlags,
  parseDevnetArgs,
  readDevnetDocument,
  withRpcUrl,
  writeDevnetDocument,
} from "../../../src/eth/devnet.js";
import { tempDir } from "../../helpers/tmp.js";

const A = (n: number) => `0x${n.toString(16).padStart(40, "0")}` as const;

function sampleDoc(): DevnetDocument {
  return {
    chainId: DEVNET_CHAIN_ID,
    rpcUrl: "http://127.0.0.1:8545",
    controller: A(1),
    contracts: {
      Controller: A(1),
      LivepeerToken: A(2),
      LivepeerTokenFaucet: A(3),
      BondingManager: A(4),
      TicketBroker: A(5),
      RoundsManager: A(6),
      Minter: A(7),
      ServiceRegistry: A(8),
    },
    roundLength: 50,
    accounts: [
      {
        address: A(9),
        privateKey: `0x${"ab".repeat(32)}`,
        keystore: "/tmp/keystore/UTC--x",
        password: "secret-password",
      },
    ],
    flags: nodeFlags("http://127.0.0.1:8545", A(1)),
  };
}

describe("lp-node devnet routing", () => {
  it("is a subcommand that gets the rest of argv", () => {
    const r = resolveConfig(["devnet", "--port", "0", "--json"], { env: {}, readFile: () => null });
    expect(r).toEqual({ kind: "subcommand", name: "devnet", argv: ["--port", "0", "--json"] });
  });
});

// What a plain devnet (no --cluster) parses the cluster flags to.
const noCluster = { cluster: false, orchestrators: 2, freePorts: false, demo: false, transcodingOptions: "" };

describe("parseDevnetArgs", () => {
  it("defaults to port 8545, 4 accounts, rounds of 50 blocks, automine, and ~/.lpData/devnet/devnet", () => {
    const r = parseDevnetArgs([], "/home/u");
    expect(r.problems).toEqual([]);
    expect(r.options).toEqual({
      port: 8545,
      dir: "/home/u/.lpData/devnet/devnet",
      accounts: 4,
      roundLength: 50,
      blockTime: null,
      json: false,
      portGiven: false,
      ...noCluster,
    });
  });

  it("takes every flag, with one or two dashes and = or a separate value", () => {
    const r = parseDevnetArgs(
      ["--port", "0", "-dir=rel/d", "--accounts=7", "--round-length", "20", "-block-time", "2", "--json"],
      "/home/u",
    );
    expect(r.options).toEqual({
      port: 0,
      dir: resolve("rel/d"),
      accounts: 7,
      roundLength: 20,
      blockTime: 2,
      json: true,
      portGiven: true,
      ...noCluster,
    });
  });

  it("puts the default folder in -datadir when given", () => {
    expect(parseDevnetArgs(["-datadir", "/data/lp"], "/home/u").options?.dir).toBe("/data/lp/devnet");
  });

  it("reports every bad value and unknown flag at once", () => {
    const r = parseDevnetArgs(
      ["--port", "70000", "--accounts", "0", "--round-length", "x", "--block-time", "-1", "--bogus", "1"],
      "/home/u",
    );
    expect(r.options).toBeNull();
    expect(r.problems).toEqual(
      expect.arrayContaining([
        "unknown flag --bogus",
        expect.stringContaining("--port must be an integer from 0 to 65535"),
        expect.stringContaining("--accounts must be an integer from 1 to 100"),
        expect.stringContaining("--round-length must be an integer"),
        expect.stringContaining("--block-time must be an integer"),
      ]),
    );
  });
});

describe("devnet.json", () => {
  it("is written with mode 0600 and read back identical", () => {
    const dir = tempDir();
    const path = join(dir, "devnet.json");
    writeDevnetDocument(path, sampleDoc());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readDevnetDocument(path)).toEqual(sampleDoc());
    expect(Object.keys(JSON.parse(readFileSync(path, "utf8")))).toEqual([
      "chainId",
      "rpcUrl",
      "controller",
      "contracts",
      "roundLength",
      "accounts",
      "flags",
    ]);
  });

  it("rejects a missing, unparsable or incomplete document (so a fresh devnet is deployed)", () => {
    const dir = tempDir();
    const path = join(dir, "devnet.json");
    expect(readDevnetDocument(path)).toBeNull();
    writeFileSync(path, "{not json");
    expect(readDevnetDocument(path)).toBeNull();
    const { Minter: _, ...missing } = sampleDoc().contracts;
    writeFileSync(path, JSON.stringify({ ...sampleDoc(), contracts: missing }));
    expect(readDevnetDocument(path)).toBeNull();
    writeFileSync(path, JSON.stringify({ ...sampleDoc(), chainId: 1 }));
    expect(readDevnetDocument(path)).toBeNull();
  });

  it("moves to a new RPC URL with flags to match", () => {
    const moved = withRpcUrl(sampleDoc(), "http://127.0.0.1:9999");
    expect(moved.rpcUrl).toBe("http://127.0.0.1:9999");
    expect(moved.flags).toEqual([
      "-network",
      "devnet",
      "-ethUrl",
      "http://127.0.0.1:9999",
      "-ethController",
      A(1),
    ]);
    expect(moved.accounts).toEqual(sampleDoc().accounts);
  });

  it("human text names the flags and keystores but never a private key or password", () => {
    const text = describeDevnet(sampleDoc(), "/d");
    expect(text).toContain("-network devnet -ethUrl http://127.0.0.1:8545 -ethController");
    expect(text).toContain("/tmp/keystore/UTC--x");
    expect(text).not.toContain("ab".repeat(32));
    expect(text).not.toContain("secret-password");
  });
});

describe("devnetCommand", () => {
  function io() {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = "";
    let err = "";
    stdout.on("data", (d) => {
      out += d;
    });
    stderr.on("data", (d) => {
      err += d;
    });
    return { stdout, stderr, signal: new AbortController().signal, out: () => out, err: () => err };
  }

  it("exits 2 with the problems and the help on bad flags, starting nothing", async () => {
    const s = io();
    const dir = tempDir();
    expect(await devnetCommand(["--accounts", "1000", "--dir", dir], s)).toBe(2);
    expect(s.err()).toContain("--accounts must be an integer from 1 to 100");
    expect(s.err()).toContain("lp-node devnet: run a local Livepeer chain");
    expect(s.out()).toBe("");
  });

  it("a signal before the chain is ready stops the setup: exit 130, nothing written, folder unlocked", async () => {
    const s = io();
    const stop = new AbortController();
    stop.abort();
    const dir = join(tempDir(), "d");
    expect(await devnetCommand(["--port", "0", "--dir", dir], { ...s, signal: stop.signal })).toBe(130);
    expect(s.err()).toContain("interrupted before the chain was ready");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("--help prints the help on stdout and exits 0", async () => {
    const s = io();
    expect(await devnetCommand(["--help"], s)).toBe(0);
    expect(s.out()).toContain("--round-length");
  });
});
