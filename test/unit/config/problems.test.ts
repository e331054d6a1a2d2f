import { describe, expect, it } from "vitest";
import { suggestFlag } from "../../../src/config/flags.js";
import { preflight } from "../../../src/config/preflight.js";
import { parseConfigFile } from "../../../src/config/sources.js";
import { io, ok, problems } from "../../helpers/config.js";

/** The README's first command. */
const README = ["--mode", "gateway,orchestrator,transcoder", "-serviceAddr", "127.0.0.1:8935"];

describe("the orchestrator's listen address", () => {
  it("stays on loopback when -serviceAddr is loopback, also in combined mode", () => {
    const c = ok(README);
    expect(c.orchestrator?.listenAddr).toEqual({ host: "127.0.0.1", port: 8935 });
    for (const l of c.listeners) expect(l.addr.host).toBe("127.0.0.1");
    expect(
      ok(["-orchestrator", "-transcoder", "-serviceAddr", "localhost:9000"]).orchestrator?.listenAddr,
    ).toEqual({ host: "localhost", port: 9000 });
    expect(
      ok(["-orchestrator", "-transcoder", "-serviceAddr", "[::1]:9000"]).orchestrator?.listenAddr,
    ).toEqual({
      host: "::1",
      port: 9000,
    });
    expect(
      ok(["-orchestrator", "-transcoder", "-serviceAddr", "127.0.0.2"]).orchestrator?.listenAddr,
    ).toEqual({
      host: "127.0.0.2",
      port: 8935,
    });
  });

  it("listens on every interface when -serviceAddr is public, as go-livepeer does", () => {
    const c = ok(["--mode", "gateway,orchestrator,transcoder", "-serviceAddr", "203.0.113.7:8935"]);
    expect(c.orchestrator?.listenAddr).toEqual({ host: "", port: 8935 });
    const l = c.listeners.find((x) => x.name === "orchestrator")!;
    expect(l.flag).toBe("-serviceAddr");
    expect(l.reason).toMatch(/every interface/);
  });

  it("-orchListenAddr sets it in every mode; a standalone orchestrator still takes -httpAddr", () => {
    const combined = ok([...README, "-orchListenAddr", "0.0.0.0:9443"]);
    expect(combined.orchestrator?.listenAddr).toEqual({ host: "0.0.0.0", port: 9443 });
    expect(combined.listeners.find((x) => x.name === "orchestrator")?.flag).toBe("-orchListenAddr");
    // Only a port: the -serviceAddr port's host rule does not apply, every interface.
    expect(ok([...README, "-orchListenAddr", ":9443"]).orchestrator?.listenAddr).toEqual({
      host: "",
      port: 9443,
    });
    const standalone = ok([
      "-orchestrator",
      "-orchSecret",
      "s",
      "-serviceAddr",
      "127.0.0.1:8935",
      "-httpAddr",
      "127.0.0.1:7000",
    ]);
    expect(standalone.orchestrator?.listenAddr).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(standalone.listeners.find((x) => x.name === "orchestrator")?.flag).toBe("-httpAddr");
    expect(
      problems([
        "-orchestrator",
        "-orchSecret",
        "s",
        "-serviceAddr",
        "h:1",
        "-httpAddr",
        ":2",
        "-orchListenAddr",
        ":3",
      ]),
    ).toEqual(["-orchListenAddr and -httpAddr both set the orchestrator's listen address; give only one"]);
  });

  it("says that orchestrator-only flags do nothing without the orchestrator role", () => {
    const gw = ["-gateway", "-orchAddr", "127.0.0.1:8935"];
    const warnings = ok([...gw, "-reward", "-initializeRound", "-orchListenAddr", "127.0.0.1:9443"]).warnings;
    expect(warnings).toEqual(
      expect.arrayContaining([
        "-reward has no effect without the orchestrator role",
        "-initializeRound has no effect without the orchestrator role",
        "-orchListenAddr has no effect without the orchestrator role",
      ]),
    );
    expect(ok([...README, "-reward=false"]).warnings.join("\n")).not.toContain("-reward has no effect");
  });

  it("names both flags when two listeners would take one port", () => {
    expect(problems([...README, "-httpAddr", "127.0.0.1:8935"])).toEqual([
      expect.stringMatching(
        /^-serviceAddr: 127\.0\.0\.1:8935 \(orchestrator\) and -httpAddr: 127\.0\.0\.1:8935/,
      ),
    ]);
  });
});

describe("configuration problems are found before start", () => {
  it("a value flag with no value is an error, not a silent default", () => {
    expect(problems(["-gateway", "-orchAddr"])).toEqual([
      "-orchAddr needs a value (-orchAddr VALUE or -orchAddr=VALUE)",
    ]);
    expect(problems(["-orchAddr", "-gateway"])).toEqual([
      "-orchAddr needs a value (-orchAddr VALUE or -orchAddr=VALUE)",
    ]);
    expect(problems(["--mode"])).toContain("-mode needs a value (-mode VALUE or -mode=VALUE)");
    // Booleans alone are fine, a negative number is a value, and an explicit empty value is allowed.
    expect(ok(["-gateway", "-currentManifest"]).gateway?.currentManifest).toBe(true);
    expect(problems(["-gateway", "-maxSessions", "-1"])).toEqual([
      "-maxSessions must be 'auto' or greater than zero",
    ]);
    expect(ok(["-gateway", "-orchAddr="]).gateway?.orchAddr).toBe("");
  });

  it("an unknown flag gets a 'did you mean'", () => {
    expect(problems(["-gateway", "-orchAdr", "h:1"])).toEqual([
      "unknown flag -orchAdr; did you mean -orchAddr?",
    ]);
    expect(problems(["-gateway", "-serviceaddr", "h:1"])).toEqual([
      "unknown flag -serviceaddr; did you mean -serviceAddr?",
    ]);
    expect(problems(["-gatway"])).toContain("unknown flag -gatway; did you mean -gateway?");
    expect(suggestFlag("completelyDifferent")).toBeUndefined();
    expect(parseConfigFile("gateway\ntranscodingOption P240p30fps16x9\n", "f").problems).toEqual([
      'config file f line 2: unknown flag "transcodingOption"; did you mean -transcodingOptions?',
    ]);
    expect(parseConfigFile('{"orchAdr": "x"}', "f").problems).toEqual([
      'config file f: unknown flag "orchAdr"; did you mean -orchAddr?',
    ]);
  });

  it("an unknown -transcodingOptions preset is a configuration error, from flags and files", () => {
    expect(problems(["-gateway", "-transcodingOptions", "P240p30fps16x9,P999"])).toEqual([
      expect.stringMatching(/^-transcodingOptions: unknown transcoding profile "P999"; presets are /),
    ]);
    expect(
      problems(
        ["--config", "/c.json"],
        io({ "/c.json": '{"mode": "gateway", "transcodingOptions": "P999"}' }),
      ),
    ).toEqual([expect.stringMatching(/^-transcodingOptions: unknown transcoding profile "P999"/)]);
    // A JSON profile file that does not parse.
    expect(
      problems(["-gateway", "-transcodingOptions", "/p.json"], io({ "/p.json": '{"name": "x"}' }))[0],
    ).toMatch(/^-transcodingOptions: .*cannot unmarshal/);
    expect(problems(["-gateway", "-transcodingOptions", "/missing.json"])[0]).toMatch(
      /^-transcodingOptions: No transcoding profiles found/,
    );
    expect(
      ok(["-gateway", "-transcodingOptions", "P144p30fps16x9"]).gateway?.profiles.map((p) => p.name),
    ).toEqual(["P144p30fps16x9"]);
  });

  it("an address that does not parse names its flag", () => {
    expect(problems(["-gateway", "-httpAddr", "a b:9935"])).toEqual([
      '-httpAddr: "a b" is not a host name or IP address (in "a b:9935")',
    ]);
    expect(problems(["-gateway", "-cliAddr", "127.0.0.1:99999"])).toEqual([
      '-cliAddr: invalid port in address "127.0.0.1:99999"',
    ]);
    expect(problems(["-gateway", "-rtmpAddr", "[::1"])[0]).toMatch(/^-rtmpAddr: invalid address/);
  });

  it("a host that does not resolve names its flag (checked before start)", async () => {
    const c = ok(["-gateway", "-httpAddr", "nonsense", "-cliAddr", "localhost:0"]);
    const lookups: string[] = [];
    const fake = async (host: string) => {
      lookups.push(host);
      if (host === "nonsense")
        throw Object.assign(new Error("getaddrinfo ENOTFOUND nonsense"), { code: "ENOTFOUND" });
      return { address: "127.0.0.1", family: 4 };
    };
    expect(await preflight(c, fake)).toEqual([
      '-httpAddr: host "nonsense" does not resolve (ENOTFOUND); give an IP address or a host name this machine resolves (http listener)',
    ]);
    expect(lookups.sort()).toEqual(["localhost", "nonsense"]);
    // With the system resolver: a reserved name never resolves.
    const real = await preflight(ok(["-gateway", "-httpAddr", "nonsense.invalid:9935"]));
    expect(real).toEqual([expect.stringMatching(/^-httpAddr: host "nonsense\.invalid" does not resolve/)]);
    expect(await preflight(ok(README))).toEqual([]);
  });
});

describe("typed configuration", () => {
  it("flag names are a type and each role has its own section", () => {
    const c = ok(README);
    // A misspelt flag name does not compile (the tests are type-checked).
    const typo = () =>
      // @ts-expect-error "orchAdr" is not a FlagName
      c.options.str("orchAdr");
    expect(typo).toThrow(/no such flag/);
    expect(c.gateway?.httpAddr).toEqual({ host: "127.0.0.1", port: 9935 });
    expect(c.orchestrator?.serviceUri).toBe("https://127.0.0.1:8935");
    expect(c.transcoder).toMatchObject({ orchAddr: "", capacity: 10 });
    expect(ok(["-gateway"]).orchestrator).toBeNull();
  });
});

describe("file-or-literal flags", () => {
  it("a value that looks like a path but names no file is an error that never shows the secret", () => {
    for (const value of ["/etc/lp/secret-xyz", "./secret-xyz", "~/secret-xyz", "secrets/secret-xyz"]) {
      const p = problems(["-gateway", "-orchSecret", value]);
      expect(p).toEqual([expect.stringMatching(/^-orchSecret: the value looks like a file path/)]);
      expect(p.join("\n")).not.toContain("secret-xyz");
    }
  });

  it("reads the file when it exists, ~/ from the home directory, and takes other values as they are", () => {
    expect(
      ok(["-gateway", "-orchSecret", "~/s.txt"], io({ "/home/op/s.txt": "s3\n" })).options.str("orchSecret"),
    ).toBe("s3");
    expect(ok(["-gateway", "-orchSecret", "plainSecret"]).options.str("orchSecret")).toBe("plainSecret");
    // An empty file is no secret either.
    expect(problems(["-gateway", "-orchSecret", "/empty"], io({ "/empty": "" }))[0]).toMatch(/^-orchSecret:/);
  });
});
