import type { Address } from "viem";
import { errorMessage } from "../errors/LpError.js";
import type { Chain } from "../eth/Chain.js";
import type { TranscoderInfo } from "../eth/ChainClient.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";

/** Same origin, ignoring a trailing slash and the case of the host. */
function sameUri(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return a === b;
  }
}

/**
 * The orchestrator's standing on the chain (go-livepeer's start-up checks in
 * cmd/livepeer/starter): registration, stake, activity and the service URI registered for its
 * address, read at start and at every new round, shown in /status. A registered URI that differs
 * from the one this node serves is reported, since gateways would look for it elsewhere.
 */
export function orchestratorOnChain(
  chain: Chain,
  serviceUri: () => string,
  log: Logger,
  address: () => Address = () => chain.signer.address,
): Service & { status: (s: NodeStatus) => void; refresh: () => Promise<void> } {
  let info: TranscoderInfo | null = null;
  let unsubscribe: (() => void) | null = null;
  const read = async (first: boolean) => {
    try {
      const next = await chain.client.transcoderInfo(address());
      const changed =
        !info ||
        info.status !== next.status ||
        info.active !== next.active ||
        info.serviceURI !== next.serviceURI;
      info = next;
      if (!first && !changed) return;
      if (next.status !== "Registered") {
        log.warn(
          { address: next.address },
          "this account is not a registered orchestrator: gateways on the chain will not find it (lp-node orchestrator activate registers it)",
        );
      } else if (!sameUri(next.serviceURI, serviceUri())) {
        log.warn(
          { registered: next.serviceURI, serving: serviceUri() },
          "the service URI registered on chain differs from the one this node serves; update it with `lp-node orchestrator config --service-uri` or /setOrchestratorConfig",
        );
      } else {
        log.info(
          { address: next.address, active: next.active, totalStake: next.totalStake.toString() },
          "registered orchestrator",
        );
      }
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "could not read the orchestrator's registration");
    }
  };
  return {
    name: "orchestrator-on-chain",
    async start() {
      await read(true);
      unsubscribe = chain.rounds.subscribe((state, previous) => {
        if (previous && state.currentRound !== previous.currentRound) void read(false);
      });
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
    },
    refresh: () => read(false),
    status(s) {
      if (!info) return;
      s["OrchestratorOnChain"] = {
        Address: info.address,
        // The hot key that signs and sends transactions, when -ethOrchAddr names another address.
        NodeAccount: chain.signer.address,
        Status: info.status,
        Active: info.active,
        TotalStake: info.totalStake.toString(),
        RewardCut: info.rewardCut.toString(),
        FeeShare: info.feeShare.toString(),
        ActivationRound: info.activationRound.toString(),
        DeactivationRound: info.deactivationRound.toString(),
        LastRewardRound: info.lastRewardRound.toString(),
        ServiceURI: info.serviceURI,
        ServiceURIMatches: info.status === "Registered" && sameUri(info.serviceURI, serviceUri()),
      };
    },
  };
}
