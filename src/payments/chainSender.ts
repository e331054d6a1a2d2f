import type { Address } from "viem";
import type { Chain } from "../eth/Chain.js";
import type { SenderFunds, SenderTime } from "./Sender.js";

/** The node's key as a ticket sender signs with it. */
export interface ChainSenderKey {
  readonly address: Address;
  signHash(hash: Uint8Array): Promise<Uint8Array>;
  signMessage(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * What a ticket sender (the gateway's payments, the remote signer) reads from the node's chain
 * layer: its key, its TicketBroker funds and the round time. The chain layer starts after the
 * roles are built, so each is reached at use, not now.
 */
export function chainSenderDeps(chain: Pick<Chain, "signer" | "client" | "rounds">): {
  key: ChainSenderKey;
  funds: SenderFunds;
  time: () => SenderTime;
} {
  return {
    key: {
      get address() {
        return chain.signer.address;
      },
      signHash: (hash) => chain.signer.signHash(hash),
      signMessage: (message) => chain.signer.signMessage(message),
    },
    funds: { senderInfo: (addr) => chain.client.senderInfo(addr) },
    time: () => chain.rounds.state,
  };
}
