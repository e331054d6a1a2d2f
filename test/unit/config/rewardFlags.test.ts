import { describe, expect, it } from "vitest";
import { ok } from "../../helpers/config.js";

const orch = ["-orchestrator", "-transcoder", "-serviceAddr", "h:1"];

describe("-reward, -initializeRound and -initializeRoundMaxDelay", () => {
  it("leave reward to the registration when unset, and the initializer off with a 30 s delay", () => {
    expect(ok(orch).orchestrator).toMatchObject({
      reward: null,
      initializeRound: false,
      initializeRoundMaxDelayMs: 30_000,
    });
  });

  it("are accepted and typed when given", () => {
    expect(
      ok([...orch, "-reward", "-initializeRound", "-initializeRoundMaxDelay", "2s"]).orchestrator,
    ).toMatchObject({ reward: true, initializeRound: true, initializeRoundMaxDelayMs: 2000 });
    expect(ok([...orch, "-reward=false"]).orchestrator?.reward).toBe(false);
  });
});
