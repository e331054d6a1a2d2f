import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultAddr, splitHostPort } from "../../../src/config/addresses.js";
import { parseDuration } from "../../../src/config/coerce.js";
import { describeSettings, resolveConfig } from "../../../src/config/resolve.js";
import { parseConfigFile } from "../../../src/config/sources.js";
import { io, ok, problems } from "../../helpers/config.js";

describe("modes", () => {
  it("takes --mode as a comma list, repeated, and go-livepeer's boolean flags", () => {
    expect(
      ok(["--mode", "gateway,orchestrator", "-transcoder", "-serviceAddr", "1.2.3.4:8935"]).roles,
    ).toEqual(["gateway", "orchestrator", "transcoder"]);
    expect(ok(["--mode", "orchestrator", "--mode", "transcoder", "-serviceAddr", "h:1"]).roles).toEqual([
      "orchestrator",
      "transcoder",
    ]);
    expect(ok(["-orchestrator", "-transcoder", "-serviceAddr", "h:1"]).roles).toEqual([
      "orchestrator",
      "transcoder",
    ]);
    expect(ok(["--gateway"]).roles).toEqual(["gateway"]);
  });

  it("accepts -broadcaster as a deprecated alias with a warning", () => {
    const c = ok(["-broadcaster"]);
    expect(c.roles).toEqual(["gateway"]);
    expect(c.warnings.join()).toMatch(/deprecated/);
  });

  it("says which modes exist when none is given", () => {
    expect(problems([])).toEqual([
      expect.stringMatching(
        /No services enabled.*gateway, orchestrator, transcoder, redeemer, remote-signer/,
      ),
    ]);
  });

  it("reports unknown modes and impossible combinations together", () => {
    const p = problems(["--mode", "gateway,bogus,redeemer"]);
    expect(p).toContain(
      'unknown mode "bogus"; modes are: gateway, orchestrator, transcoder, redeemer, remote-signer',
    );
    expect(p).toContain("redeemer cannot be combined with other roles");
    expect(problems(["--mode", "remote-signer,gateway"])).toContain(
      "remote-signer cannot be combined with other roles",
    );
  });

  it("needs on-chain for the redeemer and the remote signer", () => {
    expect(problems(["-remoteSigner"])).toContain("Remote signer mode requires on-chain network");
    expect(problems(["--mode", "redeemer"])).toContain("Redeemer mode requires on-chain network");
  });
});

describe("validation", () => {
  it("reports every problem at once with go-livepeer's texts", () => {
    const p = problems(["-orchestrator", "-maxSessions", "0", "-nodes", "http://x"]);
    expect(p).toEqual(
      expect.arrayContaining([
        "-maxSessions must be 'auto' or greater than zero",
        "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode",
        "No valid instance URLs parsed from -nodes: http://x",
      ]),
    );
  });

  it("checks a standalone transcoder's secret and orchestrator", () => {
    expect(problems(["-transcoder"])).toEqual(["Missing -orchSecret", "Missing -orchAddr"]);
  });

  it("rejects maxSessions auto for O+T and for non-orchestrators", () => {
    expect(problems(["-orchestrator", "-transcoder", "-serviceAddr", "h:1", "-maxSessions", "auto"])).toEqual(
      ["-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified"],
    );
    expect(problems(["-gateway", "-maxSessions", "auto"])).toEqual([
      "-maxSessions must be 'auto' or greater than zero",
    ]);
    expect(
      ok(["-orchestrator", "-orchSecret", "s", "-serviceAddr", "h:1", "-maxSessions", "auto"]).orchestrator
        ?.maxSessions,
    ).toBe("auto");
    expect(problems(["-gateway", "-maxSessions", "-1"])).toEqual([
      "-maxSessions must be 'auto' or greater than zero",
    ]);
  });

  it("requires a service address or nodes for an orchestrator", () => {
    expect(problems(["-orchestrator", "-transcoder"])).toEqual([
      "Empty service URI and no additional nodes specified; set -serviceAddr or -nodes",
    ]);
    expect(problems(["-orchestrator", "-transcoder", "-serviceAddr", "none"])).toHaveLength(1);
    const c = ok(["-orchestrator", "-transcoder", "-nodes", "a.example:9000,https://b.example:9001"]);
    expect(c.orchestrator?.nodes).toEqual(["https://a.example:9000", "https://b.example:9001"]);
  });

  it("refuses planned flags with 'not supported yet' but accepts their off values", () => {
    expect(problems(["-gateway", "-objectStore", "s3://example"])).toEqual([
      "-objectStore: not supported yet",
    ]);
    expect(ok(["-gateway", "-localVerify=false", "-gasLimit", "0"]).roles).toEqual(["gateway"]);
  });

  it("builds the chain settings for an on-chain network and names every missing or bad flag", () => {
    expect(ok(["-gateway"]).chain).toBeNull();
    const c = ok([
      "-orchestrator",
      "-transcoder",
      "-serviceAddr",
      "127.0.0.1:8935",
      "-network",
      "arbitrum-one-mainnet",
      "-ethUrl",
      "https://arb1.example/key",
      "-ethAcctAddr",
      "0xabc",
      "-txTimeout",
      "30s",
      "-maxTxReplacements",
      "3",
      "-pricePerUnit",
      "1",
    ]);
    expect(c.chain?.chain).toMatchObject({
      network: "arbitrum-one-mainnet",
      expectedChainId: 42161,
      controller: "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
      txTimeoutMs: 30_000,
      maxTxReplacements: 3,
    });
    expect(c.chain?.account.ethAcctAddr).toBe("0xabc");
    // Both roles are paid on a chain now.
    expect(c.warnings.join("\n")).not.toContain("payments are not supported yet");
    expect(c.orchestrator?.payments).toMatchObject({ ticketEV: 8_000_000_000n, pricePerUnit: "1" });
    expect(
      problems([
        "-orchestrator",
        "-transcoder",
        "-serviceAddr",
        "h:1",
        "-network",
        "devnet",
        "-ethUrl",
        "http://x",
        "-ethController",
        "0x0000000000000000000000000000000000000001",
      ]),
    ).toContain("-pricePerUnit must be set");
    expect(
      problems([
        "-orchestrator",
        "-transcoder",
        "-serviceAddr",
        "h:1",
        "-ticketEV",
        "-1",
        "-pricePerUnit",
        "1x!",
      ]),
    ).toEqual([
      "-ticketEV must be a valid integer >= 0, but -1 provided",
      "-pricePerUnit must be a valid integer with an optional currency, provided 1x!",
    ]);
    expect(problems(["-gateway", "-network", "devnet"])).toEqual(
      expect.arrayContaining([
        "Need to specify an Ethereum node JSON-RPC URL using -ethUrl",
        expect.stringContaining("-ethController is required for -network devnet"),
      ]),
    );
    expect(
      problems(["-gateway", "-network", "devnet", "-ethUrl", "ftp://x", "-ethController", "0x12"]),
    ).toEqual(
      expect.arrayContaining([
        "-ethUrl must be an http(s):// or ws(s):// URL",
        expect.stringContaining("-ethController"),
      ]),
    );
  });

  it("rejects unknown flags, typed values and stray arguments", () => {
    expect(problems(["-gateway", "-bogus", "1"])).toEqual(expect.arrayContaining(["unknown flag -bogus"]));
    expect(problems(["-gateway", "-testTranscoder=maybe"])[0]).toMatch(/"maybe" is not a boolean/);
    expect(problems(["-gateway", "-selectRandFreq", "x"])[0]).toMatch(/not a number/);
    expect(problems(["-gateway", "stray"])).toEqual(['unexpected argument "stray"']);
  });
});

describe("precedence: flag > env > file > default", () => {
  const file = {
    "/c.json": JSON.stringify({ cliAddr: "127.0.0.1:1111", v: 5, gateway: true, orchAddr: "file:1" }),
  };
  it("uses the file when nothing else sets a value", () => {
    const c = ok(["--config", "/c.json"], io(file));
    expect(c.cliAddr).toEqual({ host: "127.0.0.1", port: 1111 });
    expect(c.verbosity).toBe(5);
    expect(c.roles).toEqual(["gateway"]);
  });
  it("env beats the file", () => {
    const c = ok(["--config", "/c.json"], io(file, { LP_CLIADDR: "127.0.0.1:2222", LP_V: "6" }));
    expect(c.cliAddr.port).toBe(2222);
    expect(c.verbosity).toBe(6);
    expect(c.options.sources.get("cliAddr")).toBe("env");
  });
  it("a flag beats env and file", () => {
    const c = ok(["--config", "/c.json", "-cliAddr", ":3333"], io(file, { LP_CLIADDR: "127.0.0.1:2222" }));
    expect(c.cliAddr).toEqual({ host: "127.0.0.1", port: 3333 });
    expect(c.options.sources.get("cliAddr")).toBe("flag");
  });
  it("env can choose the mode and the config file", () => {
    const c = ok(
      [],
      io({ "/p.conf": "cliAddr 127.0.0.1:4444\n" }, { LP_MODE: "gateway", LP_CONFIG: "/p.conf" }),
    );
    expect(c.roles).toEqual(["gateway"]);
    expect(c.cliAddr.port).toBe(4444);
  });
  it("a higher source's --mode replaces a lower one's", () => {
    const c = ok(["--mode", "gateway"], io({}, { LP_MODE: "redeemer" }));
    expect(c.roles).toEqual(["gateway"]);
  });
  it("reports an unreadable config file", () => {
    expect(problems(["--config", "/missing", "-gateway"])).toEqual(["config file /missing cannot be read"]);
  });
});

describe("config files", () => {
  it("parses go-livepeer's plain format", () => {
    const text = [
      "# a comment",
      "gateway",
      "-orchAddr 1.2.3.4:8935,5.6.7.8:8935",
      "transcodingOptions P240p30fps16x9 # trailing comment",
      'orchSecret "quoted"',
      "",
    ].join("\n");
    const r = parseConfigFile(text, "f");
    expect(r.problems).toEqual([]);
    expect(r.settings.map((s) => [s.flag.name, s.value])).toEqual([
      ["gateway", "true"],
      ["orchAddr", "1.2.3.4:8935,5.6.7.8:8935"],
      ["transcodingOptions", "P240p30fps16x9"],
      ["orchSecret", '"quoted"'],
    ]);
  });
  it("reports unknown names with their line and bad JSON", () => {
    expect(parseConfigFile("gateway\nbogus 1\n", "f").problems).toEqual([
      'config file f line 2: unknown flag "bogus"',
    ]);
    expect(parseConfigFile("{ bad", "f").problems[0]).toMatch(/invalid JSON/);
    expect(parseConfigFile('{"mode": {"x": 1}}', "f").problems[0]).toMatch(/wrong type/);
  });
  it("accepts mode as a JSON array", () => {
    const c = ok(
      ["--config", "/m.json"],
      io({ "/m.json": '{"mode": ["orchestrator","transcoder"], "serviceAddr": "h:1"}' }),
    );
    expect(c.roles).toEqual(["orchestrator", "transcoder"]);
  });
});

describe("file-or-literal flags and secrets", () => {
  it("reads -orchSecret from a file when the value is a path", () => {
    const c = ok(["-gateway", "-orchSecret", "/s.txt"], io({ "/s.txt": "  s3cret\n" }));
    expect(c.options.str("orchSecret")).toBe("s3cret");
    expect(ok(["-gateway", "-orchSecret", "literal"]).options.str("orchSecret")).toBe("literal");
  });
  it("masks secrets in the settings table", () => {
    const lines = describeSettings(ok(["-gateway", "-orchSecret", "s3cret", "-v", "5"]).options);
    expect(lines).toContain("orchSecret=*** (flag)");
    expect(lines).toContain("v=5 (flag)");
    expect(lines.join("\n")).not.toContain("s3cret");
  });
});

describe("addresses and data directory", () => {
  it("uses go-livepeer's per-mode defaults", () => {
    const g = ok(["-gateway"]);
    expect(g.cliAddr).toEqual({ host: "127.0.0.1", port: 5935 });
    expect(g.gateway?.httpAddr).toEqual({ host: "127.0.0.1", port: 9935 });
    expect(g.gateway?.rtmpAddr).toEqual({ host: "127.0.0.1", port: 1935 });
    const o = ok(["-orchestrator", "-transcoder", "-serviceAddr", "example.com:9000"]);
    expect(o.cliAddr.port).toBe(7935);
    expect(o.orchestrator?.listenAddr).toEqual({ host: "", port: 9000 });
    expect(o.orchestrator?.serviceUri).toBe("https://example.com:9000");
    expect(o.gateway).toBeNull();
    expect(ok(["-transcoder", "-orchSecret", "s", "-orchAddr", "o:1"]).cliAddr.port).toBe(6935);
  });
  it("expands ':port' and bare hosts like defaultAddr", () => {
    expect(defaultAddr("", "127.0.0.1", 1)).toBe("127.0.0.1:1");
    expect(defaultAddr(":5", "127.0.0.1", 1)).toBe("127.0.0.1:5");
    expect(defaultAddr("0.0.0.0", "127.0.0.1", 1)).toBe("0.0.0.0:1");
    expect(defaultAddr("[::1]", "127.0.0.1", 7)).toBe("[::1]:7");
    expect(splitHostPort("[::1]:8935")).toEqual({ host: "::1", port: 8935 });
    expect(() => splitHostPort("h:99999")).toThrow(/invalid port/);
  });
  it("defaults the data directory to ~/.lpData/<network>, a custom one gets no suffix", () => {
    expect(ok(["-gateway"]).datadir).toBe("/home/op/.lpData/offchain");
    expect(ok(["-gateway", "-dataDir", "/d"]).datadir).toBe("/d");
    expect(ok(["-gateway", "-datadir", "/e"]).datadir).toBe("/e");
  });
  it("reads orchestrator httpAddr with an https scheme and refuses h2c for now", () => {
    expect(
      ok(["-orchestrator", "-transcoder", "-serviceAddr", "h:1", "-httpAddr", "https://127.0.0.1:2"])
        .orchestrator?.listenAddr,
    ).toEqual({
      host: "127.0.0.1",
      port: 2,
    });
    expect(
      problems(["-orchestrator", "-transcoder", "-serviceAddr", "h:1", "-httpAddr", "http://127.0.0.1:2"])[0],
    ).toMatch(/not supported yet/);
  });
});

describe("help, version, subcommands", () => {
  it("recognises -help, -h, -version and bench", () => {
    expect(resolveConfig(["-help"], io()).kind).toBe("help");
    expect(resolveConfig(["-h"], io()).kind).toBe("help");
    expect(resolveConfig(["-version"], io()).kind).toBe("version");
    expect(resolveConfig(["bench", "-segs", "2"], io())).toEqual({
      kind: "subcommand",
      name: "bench",
      argv: ["-segs", "2"],
    });
  });
});

describe("durations", () => {
  it("parses go durations", () => {
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("5")).toBeNull();
    expect(parseDuration("2x")).toBeNull();
  });
});

describe("example configuration files", () => {
  const read = (name: string) => readFileSync(new URL(`../../../${name}`, import.meta.url), "utf8");
  it("livepeer.config.example.json runs on a new machine: loopback only, no root-only paths", () => {
    const text = read("livepeer.config.example.json");
    const c = ok(["--config", "/ex.json"], io({ "/ex.json": text }));
    expect(c.roles).toEqual(["orchestrator", "transcoder"]);
    expect(c.orchestrator?.serviceUri).toBe("https://127.0.0.1:8935");
    expect(c.datadir).toBe("/home/op/.lpData/offchain");
    for (const l of c.listeners) expect(l.addr.host).toBe("127.0.0.1");
    expect(text).not.toMatch(/\/etc\/|\/var\/|example\.com/);
  });
  it("livepeer.orchestrator.conf.example is a public orchestrator in the plain format", () => {
    const text = read("livepeer.orchestrator.conf.example");
    expect(parseConfigFile(text, "f").problems).toEqual([]);
    const c = ok(["--config", "/o.conf"], io({ "/o.conf": text }));
    expect(c.roles).toEqual(["orchestrator", "transcoder"]);
    expect(c.orchestrator?.listenAddr).toEqual({ host: "", port: 8935 });
    expect(c.cliAddr).toEqual({ host: "127.0.0.1", port: 7935 });
    expect(text).toMatch(/# EDIT/);
  });
});
