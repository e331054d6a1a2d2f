import { describe, expect, it } from "vitest";
import type { Chain } from "../../../src/eth/Chain.js";
import { chainSenderDeps } from "../../../src/payments/chainSender.js";

describe("chainSenderDeps", () => {
  it("reaches the chain layer's key, funds and rounds at use, so it can be built before the chain starts", async () => {
    let started = false;
    const notStarted = () => {
      throw new Error("chain layer not started");
    };
    const signer = {
      address: "0x00000000000000000000000000000000000000aa" as const,
      signHash: async (h: Uint8Array) => Uint8Array.of(1, ...h),
      signMessage: async (m: Uint8Array) => Uint8Array.of(2, ...m),
    };
    const chain = {
      get signer() {
        return started ? signer : notStarted();
      },
      get client() {
        return started ? { senderInfo: async (a: string) => ({ deposit: 7n, addr: a }) } : notStarted();
      },
      get rounds() {
        return started ? { state: { lastInitializedRound: 9n } } : notStarted();
      },
    } as unknown as Pick<Chain, "signer" | "client" | "rounds">;

    const deps = chainSenderDeps(chain);
    expect(() => deps.key.address).toThrow("chain layer not started");
    started = true;
    expect(deps.key.address).toBe(signer.address);
    expect(await deps.key.signHash(Uint8Array.of(5))).toEqual(Uint8Array.of(1, 5));
    expect(await deps.key.signMessage(Uint8Array.of(6))).toEqual(Uint8Array.of(2, 6));
    expect(await deps.funds.senderInfo(signer.address)).toMatchObject({ deposit: 7n, addr: signer.address });
    expect(deps.time()).toEqual({ lastInitializedRound: 9n });
  });
});
