import { PassThrough } from "node:stream";
import { parseEther } from "viem";
import { describe, expect, it } from "vitest";
import {
  type OPERATOR_COMMANDS,
  operatorCommand,
  quoteNumbers,
  splitOperatorArgs,
} from "../../../src/cli/operator.js";
import { resolveConfig } from "../../../src/config/resolve.js";
import { MoneyError, parseAmount } from "../../../src/eth/money.js";
import {
  formatPercent,
  goJson,
  parseAddress,
  parseLockId,
  parsePercent,
  parseServiceUri,
  StakingError,
} from "../../../src/eth/staking.js";

describe("amounts of LPT", () => {
  it("takes a number with LPT, or base units as an integer, exactly", () => {
    expect(parseAmount("500LPT", "x", "lpt")).toBe(parseEther("500"));
    expect(parseAmount("0.5 lpt", "x", "lpt")).toBe(parseEther("0.5"));
    expect(parseAmount("1000", "x", "lpt")).toBe(1000n);
    expect(parseAmount("0.000000000000000001LPT", "x", "lpt")).toBe(1n);
  });

  it("refuses ETH units for LPT, LPT for ETH, and prototype names as units", () => {
    expect(() => parseAmount("1eth", "amount", "lpt")).toThrow(/invalid amount "1eth": unknown unit/);
    expect(() => parseAmount("1lpt", "amount")).toThrow(/unknown unit/);
    for (const bad of ["1constructor", "1tostring", "1__proto__", "1.5", "-1", "1e18"]) {
      expect(() => parseAmount(bad, "amount", "lpt"), bad).toThrow(MoneyError);
    }
    expect(() => parseAmount("0.0000000000000000001LPT", "x", "lpt")).toThrow(/finer than/);
  });
});

describe("percentages", () => {
  it("reads 10% or 10 as 100000 parts per million, with up to four decimals", () => {
    expect(parsePercent("10%", "cut")).toBe(100_000n);
    expect(parsePercent("10", "cut")).toBe(100_000n);
    expect(parsePercent("12.5%", "cut")).toBe(125_000n);
    expect(parsePercent("0.0001", "cut")).toBe(1n);
    expect(parsePercent("100", "cut")).toBe(1_000_000n);
    expect(parsePercent(" 0 % ", "cut")).toBe(0n);
  });

  it("refuses anything outside 0 to 100 or finer than one part per million, naming the flag", () => {
    for (const bad of ["", "-1", "100.0001", "101", "1000", "0.00001", "ten", "10%%", "1e1", "0x10"]) {
      expect(() => parsePercent(bad, "--reward-cut"), bad).toThrow(StakingError);
      expect(() => parsePercent(bad, "--reward-cut"), bad).toThrow(/invalid --reward-cut/);
    }
  });

  it("formats parts per million back", () => {
    expect(formatPercent(100_000n)).toBe("10%");
    expect(formatPercent(125_000n)).toBe("12.5%");
    expect(formatPercent(1n)).toBe("0.0001%");
    expect(formatPercent(1_000_000n)).toBe("100%");
  });
});

describe("addresses, lock ids and service URIs", () => {
  it("checksums addresses and refuses bad or zero ones", () => {
    expect(parseAddress("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "to")).toBe(
      "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    );
    expect(() => parseAddress("0x1234", "toAddr")).toThrow(/invalid toAddr/);
    expect(() => parseAddress("0x0000000000000000000000000000000000000000", "to")).toThrow(/zero address/);
  });

  it("takes lock ids as non-negative integers", () => {
    expect(parseLockId("7")).toBe(7n);
    for (const bad of ["-1", "1.5", "x", ""]) expect(() => parseLockId(bad), bad).toThrow(StakingError);
  });

  it("takes an http(s) origin, warns about a private host, refuses paths and other schemes", () => {
    expect(parseServiceUri("https://orch.example.com:8935")).toEqual({
      uri: "https://orch.example.com:8935",
      warning: null,
    });
    expect(parseServiceUri("https://127.0.0.1:8935/").uri).toBe("https://127.0.0.1:8935");
    expect(parseServiceUri("https://127.0.0.1:8935").warning).toMatch(/not a public address/);
    expect(parseServiceUri("https://10.1.2.3:8935").warning).toMatch(/not a public address/);
    for (const bad of [
      "orch:8935",
      "ftp://a.example",
      "https://a.example/x",
      "https://u:p@a.example",
      "x".repeat(2000),
    ]) {
      expect(() => parseServiceUri(bad), bad).toThrow(/invalid serviceURI/);
    }
  });
});

describe("JSON of big integers", () => {
  it("writes them as bare numbers, exactly, and reads them back as strings", () => {
    const big = 123456789012345678901234567890n;
    const text = goJson({ a: big, b: "x:1234567890123456789", c: [1n, true, null] });
    expect(text).toBe('{"a":123456789012345678901234567890,"b":"x:1234567890123456789","c":[1,true,null]}');
    expect(JSON.parse(quoteNumbers(text))).toEqual({
      a: "123456789012345678901234567890",
      b: "x:1234567890123456789",
      c: ["1", true, null],
    });
    expect(JSON.parse(quoteNumbers('{"s":"a\\"1","n":-5}'))).toEqual({ s: 'a"1', n: "-5" });
  });
});

describe("operator command arguments", () => {
  it("splits own options (one or two dashes, = or a separate value), positionals and chain flags", () => {
    expect(
      splitOperatorArgs(["100LPT", "--to", "0xabc", "-network", "devnet", "--json", "-ethUrl=http://x"]),
    ).toEqual({
      own: { to: "0xabc", json: "true" },
      positional: ["100LPT"],
      flags: ["-network", "devnet", "-ethUrl=http://x"],
    });
    expect(splitOperatorArgs(["activate", "-reward-cut=10%", "--fee-share", "95"]).own).toEqual({
      "reward-cut": "10%",
      "fee-share": "95",
    });
  });

  const run = async (name: keyof typeof OPERATOR_COMMANDS, argv: string[]) => {
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
    let fetched = 0;
    const code = await operatorCommand(name, argv, {
      stdout,
      stderr,
      env: {},
      fetch: (async () => {
        fetched++;
        throw new Error("no network in unit tests");
      }) as typeof fetch,
    });
    return { code, out, err, fetched };
  };

  it("exits 2 with a clear message and reaches nothing for bad usage or values", async () => {
    const cases: [keyof typeof OPERATOR_COMMANDS, string[], RegExp][] = [
      ["bond", ["100LPT", "--node", "http://127.0.0.1:1"], /needs --to ADDRESS/],
      ["bond", ["--to", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"], /takes AMOUNT/],
      [
        "bond",
        ["1eth", "--to", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "--node", "http://x"],
        /unknown unit/,
      ],
      ["bond", ["1LPT", "--to", "0x12", "--node", "http://x"], /invalid --to/],
      ["unbond", ["0", "--node", "http://x"], /greater than 0/],
      ["reward", ["extra", "--node", "http://x"], /unexpected argument "extra"/],
      ["reward", ["--stake", "1LPT", "--node", "http://x"], /does not take --stake/],
      ["orchestrator", ["dance"], /activate, config, list or info/],
      [
        "orchestrator",
        [
          "activate",
          "--reward-cut",
          "150%",
          "--fee-share",
          "1",
          "--service-uri",
          "https://a.example:1",
          "--node",
          "http://x",
        ],
        /invalid --reward-cut/,
      ],
      [
        "orchestrator",
        ["activate", "--reward-cut", "10"],
        /needs --reward-cut, --fee-share and --service-uri/,
      ],
      ["orchestrator", ["config", "--reward-cut", "10", "--node", "http://x"], /go together/],
      ["orchestrator", ["config", "--price", "abc", "--node", "http://x"], /invalid --price/],
      // A price is the node's: straight to the chain there is nothing to set it on.
      ["orchestrator", ["config", "--price", "1000", "-network", "devnet"], /give --node URL/],
      ["withdraw-stake", ["x", "--node", "http://x"], /invalid LOCK_ID/],
      [
        "bond",
        ["1LPT", "--to", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "--node", "ftp://x"],
        /invalid --node/,
      ],
      ["claim-earnings", ["--node", "http://127.0.0.1:1", "-network", "devnet"], /chain flags/],
      ["claim-earnings", [], /needs a chain/],
    ];
    for (const [name, argv, msg] of cases) {
      const r = await run(name, [...argv, "--json"]);
      expect(r.code, `${name} ${argv.join(" ")}`).toBe(2);
      expect(r.err, `${name} ${argv.join(" ")}`).toMatch(msg);
      expect(r.fetched).toBe(0);
      const line = JSON.parse(r.out.trim().split("\n").pop()!);
      expect(line.error.message).toMatch(msg);
    }
  });

  it("exits 1 when the node cannot be reached", async () => {
    const r = await run("reward", ["--node", "http://127.0.0.1:1", "--json"]);
    expect(r.code).toBe(1);
    expect(r.fetched).toBe(1);
    expect(JSON.parse(r.out).error.code).toBe("NODE_UNREACHABLE");
  });

  it("prints the help with --help and exits 0", async () => {
    const r = await run("bond", ["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/lp-node orchestrator activate --stake AMOUNT/);
  });
});

describe("-ethOrchAddr", () => {
  const resolve = (argv: string[]) => resolveConfig(argv, { env: {}, readFile: () => null });
  const chainFlags = [
    "-network",
    "devnet",
    "-ethUrl",
    "http://127.0.0.1:8545",
    "-ethController",
    "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "-pricePerUnit",
    "1",
  ];
  it("goes to the orchestrator's payments section, checked", () => {
    const r = resolve([
      "-orchestrator",
      "-transcoder",
      "-serviceAddr",
      "127.0.0.1:8935",
      ...chainFlags,
      "-ethOrchAddr",
      "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    ]);
    expect(r.kind).toBe("ok");
    if (r.kind === "ok")
      expect(r.config.orchestrator?.payments.ethOrchAddr).toBe("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const bad = resolve([
      "-orchestrator",
      "-transcoder",
      "-serviceAddr",
      "127.0.0.1:8935",
      ...chainFlags,
      "-ethOrchAddr",
      "0x1234",
    ]);
    expect(bad.kind).toBe("error");
    if (bad.kind === "error")
      expect(bad.problems).toEqual([expect.stringMatching(/-ethOrchAddr must be an Ethereum address/)]);
  });
});
