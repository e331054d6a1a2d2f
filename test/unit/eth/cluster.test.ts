import { describe, expect, it } from "vitest";
import {
  CLUSTER_DEFAULTS,
  type ClusterPorts,
  clusterNodeSpecs,
  firstPaidSegment,
  pickClusterPorts,
} from "../../../src/eth/cluster.js";
import { type DevnetDocument, parseDevnetArgs } from "../../../src/eth/devnet.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { estimateFee } from "../../../src/payments/fees.js";
import { Rat } from "../../../src/payments/rat.js";

describe("parseDevnetArgs --cluster", () => {
  it("defaults to 2 orchestrators, 1 s blocks and no spare accounts", () => {
    const r = parseDevnetArgs(["--cluster"], "/home/u");
    expect(r.problems).toEqual([]);
    expect(r.options).toMatchObject({
      cluster: true,
      orchestrators: 2,
      blockTime: 1,
      accounts: 0,
      port: 8545,
      portGiven: false,
      freePorts: false,
      demo: false,
      transcodingOptions: "",
    });
  });

  it("takes the cluster flags", () => {
    const r = parseDevnetArgs(
      [
        "--cluster",
        "--orchestrators",
        "3",
        "--free-ports",
        "--demo",
        "--transcoding-options",
        "P144p30fps16x9",
        "--block-time",
        "2",
        "--accounts",
        "1",
      ],
      "/home/u",
    );
    expect(r.options).toMatchObject({
      orchestrators: 3,
      freePorts: true,
      demo: true,
      transcodingOptions: "P144p30fps16x9",
      blockTime: 2,
      accounts: 1,
    });
  });

  it("refuses cluster flags without --cluster, bad counts and rounds too short for tickets to redeem", () => {
    expect(parseDevnetArgs(["--orchestrators", "3", "--demo"], "/home/u").problems).toEqual([
      "--orchestrators needs --cluster",
      "--demo needs --cluster",
    ]);
    const r = parseDevnetArgs(["--cluster", "--orchestrators", "0", "--round-length", "20"], "/home/u");
    expect(r.options).toBeNull();
    expect(r.problems).toEqual([
      expect.stringContaining("--orchestrators must be an integer from 1 to 16"),
      expect.stringContaining("--round-length must be at least 45 with --cluster"),
    ]);
  });
});

describe("pickClusterPorts", () => {
  it("takes the gateway's default ports and numbers orchestrators from 8936 and their CLIs from 7936", async () => {
    const ports = await pickClusterPorts(2, false, async () => true);
    expect(ports).toEqual({
      gateway: { rtmp: 1935, http: 9935, cli: 5935 },
      orchestrators: [
        { service: 8936, cli: 7936 },
        { service: 8937, cli: 7937 },
      ],
    });
  });

  it("skips taken orchestrator ports", async () => {
    const taken = new Set([8936, 8938, 7937]);
    const ports = await pickClusterPorts(2, false, async (p) => !taken.has(p));
    expect(ports.orchestrators).toEqual([
      { service: 8937, cli: 7936 },
      { service: 8939, cli: 7938 },
    ]);
  });

  it("fails naming a taken gateway port, or takes another with --free-ports", async () => {
    await expect(pickClusterPorts(1, false, async (p) => p !== 9935)).rejects.toThrow(
      "port 9935 (gateway HTTP) on 127.0.0.1 is in use: stop what uses it, or pass --free-ports",
    );
    const ports = await pickClusterPorts(1, true, async (p) => p !== 9935);
    expect(ports.gateway.rtmp).toBe(1935);
    expect(ports.gateway.http).not.toBe(9935);
    expect(ports.gateway.http).toBeGreaterThan(0);
  });
});

const doc = {
  chainId: 31337,
  rpcUrl: "http://127.0.0.1:8545",
  controller: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  contracts: {},
  roundLength: 50,
  accounts: [],
  flags: [
    "-network",
    "devnet",
    "-ethUrl",
    "http://127.0.0.1:8545",
    "-ethController",
    "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  ],
} as unknown as DevnetDocument;
const ports: ClusterPorts = {
  gateway: { rtmp: 1935, http: 9935, cli: 5935 },
  orchestrators: [
    { service: 8936, cli: 7936 },
    { service: 8937, cli: 7937 },
  ],
};
const keys = ["0x01", "0x02", "0x03"].map((a, i) => ({
  address: a.padEnd(42, "0") as `0x${string}`,
  keystore: `/d/keystore/key${i}`,
  passwordFile: `/d/node${i}/password`,
}));

const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

describe("clusterNodeSpecs", () => {
  const specs = clusterNodeSpecs({
    dir: "/d",
    doc,
    ports,
    keys,
    demo: true,
    transcodingOptions: "P240p30fps16x9",
  });

  it("runs each orchestrator with a local transcoder, reward and round initialisation on its own port, account and folder", () => {
    expect(specs.map((s) => s.name)).toEqual(["orchestrator-1", "orchestrator-2", "gateway"]);
    const o = specs[1]!;
    expect(o.cliUrl).toBe("http://127.0.0.1:7937");
    expect(flag(o.args, "--mode")).toBe("orchestrator,transcoder");
    expect(flag(o.args, "-serviceAddr")).toBe("127.0.0.1:8937");
    expect(flag(o.args, "-cliAddr")).toBe("127.0.0.1:7937");
    expect(flag(o.args, "-ethKeystorePath")).toBe("/d/keystore/key1");
    expect(flag(o.args, "-ethPassword")).toBe("/d/node1/password");
    expect(flag(o.args, "-datadir")).toBe("/d/orchestrator-2");
    expect(o.args).toEqual(expect.arrayContaining(["-reward", "-initializeRound", ...doc.flags]));
  });

  it("lets the gateway discover the orchestrators on chain with ceilings its orchestrators' prices and tickets pass", () => {
    const g = specs[2]!;
    const o = specs[0]!;
    expect(g.address).toBe(keys[2]!.address);
    expect(g.args).not.toContain("-orchAddr");
    expect(flag(g.args, "-rtmpAddr")).toBe("127.0.0.1:1935");
    expect(flag(g.args, "-httpAddr")).toBe("127.0.0.1:9935");
    expect(BigInt(flag(g.args, "-maxPricePerUnit")!)).toBeGreaterThanOrEqual(
      BigInt(flag(o.args, "-pricePerUnit")!),
    );
    expect(BigInt(flag(g.args, "-maxTicketEV")!)).toBeGreaterThan(BigInt(flag(o.args, "-ticketEV")!));
    expect(flag(g.args, "-transcodingOptions")).toBe("P240p30fps16x9");
    expect(g.args).toContain("-demo");
    expect(flag(g.args, "-datadir")).toBe("/d/gateway");
  });

  it("prices a 2 s segment of one 240p rendition above a ticket's EV, so every segment carries a ticket", () => {
    const fee = estimateFee([PRESETS["P240p30fps16x9"]!], 2, Rat.of(CLUSTER_DEFAULTS.pricePerUnit, 1n))!;
    expect(fee.gte(Rat.of(CLUSTER_DEFAULTS.ticketEV, 1n))).toBe(true);
    // Each ticket wins 1 time in 2.
    expect(CLUSTER_DEFAULTS.maxFaceValue).toBe(CLUSTER_DEFAULTS.ticketEV * 2n);
  });
});

describe("firstPaidSegment", () => {
  it("is the first stream with a segment done and a payment session", () => {
    expect(firstPaidSegment(null)).toBeNull();
    expect(firstPaidSegment({ Streams: {} })).toBeNull();
    expect(firstPaidSegment({ Streams: { a: { segmentsOk: 0, payment: { nonce: 1 } } } })).toBeNull();
    expect(firstPaidSegment({ Streams: { a: { segmentsOk: 2, payment: null } } })).toBeNull();
    expect(
      firstPaidSegment({
        Streams: { a: { segmentsOk: 1, payment: { nonce: 1 }, orchestrator: "https://127.0.0.1:8936" } },
      }),
    ).toEqual({ stream: "a", orchestrator: "https://127.0.0.1:8936" });
  });
});
