import type { Options } from "./resolve.js";

/**
 * A paying node's sender limits and price ceilings as flag text: the gateway's and the remote
 * signer's. The payments layer parses and checks them, so that a node that does not pay never loads it.
 */
export interface SenderLimitFlags {
  maxTicketEV: string;
  maxTotalEV: string;
  depositMultiplier: number;
  /** -maxPricePerUnit ("0" = any price), -pixelsPerUnit and -maxPricePerCapability as given. */
  maxPricePerUnit: string;
  pixelsPerUnit: string;
  maxPricePerCapability: string;
}

/** The sender-limit flags as given. */
export function senderLimitFlags(o: Options): SenderLimitFlags {
  return {
    maxTicketEV: o.str("maxTicketEV"),
    maxTotalEV: o.str("maxTotalEV"),
    depositMultiplier: o.num("depositMultiplier"),
    maxPricePerUnit: o.str("maxPricePerUnit"),
    pixelsPerUnit: o.str("pixelsPerUnit"),
    maxPricePerCapability: o.str("maxPricePerCapability"),
  };
}
