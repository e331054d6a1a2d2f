import { describe, expect, it } from "vitest";
import { ok, problems } from "../../helpers/config.js";

const onChain = ["-network", "arbitrum-one-mainnet", "-ethUrl", "http://127.0.0.1:8545"];
const orch = ["-orchestrator", "-transcoder", "-serviceAddr", "h:1"];

describe("redeemer mode and -redeemerAddr", () => {
  it("listens on 127.0.0.1:8935 by default and on -httpAddr when given (with or without https://)", () => {
    expect(ok(["--mode", "redeemer", ...onChain]).redeemer).toEqual({
      listenAddr: { host: "127.0.0.1", port: 8935 },
      ethOrchAddr: "",
    });
    expect(ok(["-redeemer", ...onChain, "-httpAddr", "https://0.0.0.0:9000"]).redeemer?.listenAddr).toEqual({
      host: "0.0.0.0",
      port: 9000,
    });
    const c = ok(["-redeemer", ...onChain, "-httpAddr", "127.0.0.1:0"]);
    expect(c.listeners.map((l) => [l.name, l.flag])).toContainEqual(["redeemer", "-httpAddr"]);
  });

  it("is refused offchain, beside another role, and with an -ethOrchAddr that is not an address", () => {
    expect(problems(["--mode", "redeemer"])).toContain("Redeemer mode requires on-chain network");
    expect(problems(["--mode", "redeemer,orchestrator", ...onChain, ...orch.slice(2)])).toContain(
      "redeemer cannot be combined with other roles",
    );
    expect(problems(["--mode", "redeemer", ...onChain, "-ethOrchAddr", "0x12"])).toContain(
      "-ethOrchAddr must be an Ethereum address (0x and 40 hex digits), provided 0x12",
    );
  });

  it("gives the orchestrator the redeemer's URL with go-livepeer's default port 8935", () => {
    expect(ok(orch).orchestrator?.redeemerAddr).toBe("");
    expect(ok([...orch, "-redeemerAddr", "redeemer.local"]).orchestrator?.redeemerAddr).toBe(
      "https://redeemer.local:8935",
    );
    expect(ok([...orch, "-redeemerAddr", "https://10.0.0.2:7000"]).orchestrator?.redeemerAddr).toBe(
      "https://10.0.0.2:7000",
    );
  });

  it("says that -redeemerAddr does nothing offchain", () => {
    expect(ok([...orch, "-redeemerAddr", "r:1"]).warnings).toContain(
      "-redeemerAddr has no effect without the orchestrator role on a chain",
    );
    expect(ok([...orch, ...onChain, "-pricePerUnit", "1", "-redeemerAddr", "r:1"]).warnings).not.toContain(
      "-redeemerAddr has no effect without the orchestrator role on a chain",
    );
  });

  it("refuses a -redeemerAddr with another scheme or a path", () => {
    for (const bad of ["http://r:1", "r:1/path"]) {
      expect(problems([...orch, "-redeemerAddr", bad]).join("\n")).toMatch(/^-redeemerAddr: /m);
    }
  });
});
