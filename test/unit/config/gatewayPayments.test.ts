import { describe, expect, it } from "vitest";
import { ok, problems } from "../../helpers/config.js";

const onChain = [
  "-gateway",
  "-network",
  "devnet",
  "-ethUrl",
  "http://127.0.0.1:8545",
  "-ethController",
  `0x${"11".repeat(20)}`,
];

describe("the gateway's payment flags", () => {
  it("are typed into the gateway's config on a chain, and the gateway is no longer said to work unpaid", () => {
    const c = ok([...onChain, "-maxTicketEV", "5", "-maxPricePerUnit", "10", "-depositMultiplier", "3"]);
    expect(c.gateway).toMatchObject({
      maxTicketEV: "5",
      maxTotalEV: "20000000000000",
      depositMultiplier: 3,
      maxPricePerUnit: "10",
      pixelsPerUnit: "1",
      maxPricePerCapability: "",
    });
    expect(c.warnings.join("\n")).not.toContain("the gateway connects to the chain");
  });

  it("refuse bad values on a chain with go-livepeer's texts", () => {
    expect(problems([...onChain, "-maxTicketEV", "abcd"])).toContain(
      "-maxTicketEV must be a valid rational number, but abcd provided. Restart the node with a valid value for -maxTicketEV",
    );
    expect(problems([...onChain, "-maxTicketEV", "-1"])).toContain(
      "-maxTicketEV must not be negative, but -1 provided. Restart the node with a valid value for -maxTicketEV",
    );
    expect(problems([...onChain, "-depositMultiplier", "0"])).toContain(
      "-depositMultiplier must be greater than 0, but 0 provided. Restart the node with a valid value for -depositMultiplier",
    );
    expect(problems([...onChain, "-maxPricePerUnit", "cheap"])).toContain(
      "The maximum price per unit must be a valid integer with an optional currency, provided cheap instead",
    );
  });

  it("offchain are accepted and said to do nothing", () => {
    const c = ok(["-gateway", "-maxTicketEV", "5", "-maxPricePerUnit", "10"]);
    expect(c.warnings).toEqual(
      expect.arrayContaining([
        "-maxTicketEV has no effect with -network offchain",
        "-maxPricePerUnit has no effect with -network offchain",
      ]),
    );
  });
});
