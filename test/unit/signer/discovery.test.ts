import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { maxPricesFromFlags } from "../../../src/payments/pricing.js";
import {
  Capabilities_CapabilityConstraints_ModelConstraintSchema,
  Capabilities_CapabilityConstraintsSchema,
  Capabilities_ConstraintsSchema,
  CapabilitiesSchema,
  OrchestratorInfoSchema,
  PriceInfoSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { capabilityKeys } from "../../../src/signer/discovery.js";

const LV2V = 35;
const T2I = 27;

function info() {
  const model = () => create(Capabilities_CapabilityConstraints_ModelConstraintSchema, {});
  return create(OrchestratorInfoSchema, {
    priceInfo: create(PriceInfoSchema, { pricePerUnit: 10n, pixelsPerUnit: 1n }),
    capabilities: create(CapabilitiesSchema, {
      constraints: create(Capabilities_ConstraintsSchema, {
        PerCapability: {
          [LV2V]: create(Capabilities_CapabilityConstraintsSchema, {
            models: { streamdiffusion: model(), comfyui: model() },
          }),
          [T2I]: create(Capabilities_CapabilityConstraintsSchema, { models: { sdxl: model() } }),
        },
      }),
    }),
    capabilitiesPrices: [
      create(PriceInfoSchema, {
        pricePerUnit: 1n,
        pixelsPerUnit: 1n,
        capability: LV2V,
        constraint: "streamdiffusion",
      }),
    ],
  });
}

describe("remote discovery capability keys", () => {
  it("lists pipeline/model for each priced model; none without ceilings is filtered", () => {
    expect(capabilityKeys(info(), null).sort()).toEqual([
      "live-video-to-video/comfyui",
      "live-video-to-video/streamdiffusion",
      "text-to-image/sdxl",
    ]);
  });

  it("drops models priced above the signer's ceiling (the model's price, else the global one)", async () => {
    // Ceiling 5 wei/pixel: streamdiffusion is priced 1 (kept), the others fall back to O's 10.
    const max = await maxPricesFromFlags({ maxPricePerUnit: "5", pixelsPerUnit: "1" }, null);
    expect(capabilityKeys(info(), max)).toEqual(["live-video-to-video/streamdiffusion"]);
  });
});
