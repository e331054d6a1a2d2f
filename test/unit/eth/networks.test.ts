import { getAddress } from "viem";
import { describe, expect, it } from "vitest";
import { chainConfigFromOptions, isOnChain, NETWORK_PRESETS } from "../../../src/eth/networks.js";

const URL = "http://127.0.0.1:8545";
const DEV_CONTROLLER = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

describe("chainConfigFromOptions", () => {
  it("gives no chain for offchain", () => {
    expect(chainConfigFromOptions({ network: "offchain", ethUrl: "", ethController: "" })).toEqual({
      config: null,
      problems: [],
    });
    expect(isOnChain("offchain")).toBe(false);
    expect(isOnChain("devnet")).toBe(true);
  });

  it("presets arbitrum-one-mainnet: chain 42161, its Controller, L2 redeem gas", () => {
    const { config, problems } = chainConfigFromOptions({
      network: "arbitrum-one-mainnet",
      ethUrl: "https://arb1.example/v2/key",
      ethController: "",
    });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      network: "arbitrum-one-mainnet",
      expectedChainId: 42161,
      controller: "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
      redeemGas: 1_200_000n,
      minGasPrice: 0n,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 300_000,
      maxTxReplacements: 1,
      blockPollingIntervalMs: 5_000,
      aiServiceRegistry: "0x04C0b249740175999E5BF5c9ac1dA92431EF34C5",
      deprecated: false,
    });
  });

  it("lets -ethController override a preset, in any letter case", () => {
    const { config } = chainConfigFromOptions({
      network: "arbitrum-one-mainnet",
      ethUrl: URL,
      ethController: DEV_CONTROLLER,
    });
    expect(config?.controller).toBe(DEV_CONTROLLER);
  });

  it("needs -ethController for a network without a preset and accepts any chain id there", () => {
    const missing = chainConfigFromOptions({ network: "devnet", ethUrl: URL, ethController: "" });
    expect(missing.config).toBeNull();
    expect(missing.problems).toHaveLength(1);
    expect(missing.problems[0]).toMatch(/^-ethController is required for -network devnet/);

    const ok = chainConfigFromOptions({
      network: "arbitrum-one-goerli",
      ethUrl: URL,
      ethController: DEV_CONTROLLER,
    });
    expect(ok.problems).toEqual([]);
    expect(ok.config?.expectedChainId).toBeUndefined();
    expect(ok.config?.redeemGas).toBe(350_000n);
  });

  it("uses go-livepeer's text for a missing -ethUrl and reports every problem at once", () => {
    const { config, problems } = chainConfigFromOptions({
      network: "devnet",
      ethUrl: "",
      ethController: "0x1234",
      maxGasPrice: "lots",
      gasLimit: -1,
      transactionTimeoutMs: 0,
      maxTransactionReplacements: -1,
      blockPollingInterval: 0,
    });
    expect(config).toBeNull();
    expect(problems).toEqual([
      "Need to specify an Ethereum node JSON-RPC URL using -ethUrl",
      '-ethController: "0x1234" is not an Ethereum address',
      "-maxGasPrice must be a non-negative integer, provided lots",
      "-gasLimit must be a non-negative integer, provided -1",
      "-transactionTimeout must be greater than 0",
      "-maxTransactionReplacements must be an integer >= 0",
      "-blockPollingInterval must be greater than 0",
    ]);
  });

  it("refuses an -ethUrl that is not http(s) or ws(s)", () => {
    const { problems } = chainConfigFromOptions({
      network: "devnet",
      ethUrl: "127.0.0.1:8545",
      ethController: DEV_CONTROLLER,
    });
    expect(problems).toEqual(["-ethUrl must be an http(s):// or ws(s):// URL"]);
    for (const url of ["ws://127.0.0.1:8546", "wss://x.example/ws", "https://x.example"]) {
      expect(
        chainConfigFromOptions({ network: "devnet", ethUrl: url, ethController: DEV_CONTROLLER }).problems,
      ).toEqual([]);
    }
  });

  it("maps 0 to no cap / estimate, converts units, and keeps the minimum gas price preset", () => {
    const { config } = chainConfigFromOptions({
      network: "mainnet",
      ethUrl: URL,
      ethController: "",
      maxGasPrice: 0,
      gasLimit: "0",
      transactionTimeoutMs: 60_000,
      maxTransactionReplacements: 3,
      blockPollingInterval: 1,
    });
    expect(config).toMatchObject({
      maxGasPrice: null,
      gasLimit: null,
      minGasPrice: 1_000_000_000n,
      txTimeoutMs: 60_000,
      maxTxReplacements: 3,
      blockPollingIntervalMs: 1_000,
      expectedChainId: 1,
    });
    const capped = chainConfigFromOptions({
      network: "devnet",
      ethUrl: URL,
      ethController: DEV_CONTROLLER,
      maxGasPrice: "20000000000",
      minGasPrice: 5n,
      gasLimit: 400_000,
    });
    expect(capped.config).toMatchObject({
      maxGasPrice: 20_000_000_000n,
      minGasPrice: 5n,
      gasLimit: 400_000n,
    });
  });

  it("refuses a -minGasPrice above -maxGasPrice", () => {
    const { problems } = chainConfigFromOptions({
      network: "devnet",
      ethUrl: URL,
      ethController: DEV_CONTROLLER,
      maxGasPrice: 10,
      minGasPrice: 11,
    });
    expect(problems).toEqual(["-minGasPrice 11 is above -maxGasPrice 10"]);
  });

  it("has go-livepeer's presets", () => {
    expect(Object.keys(NETWORK_PRESETS).sort()).toEqual([
      "arbitrum-one-mainnet",
      "arbitrum-one-rinkeby",
      "mainnet",
      "rinkeby",
    ]);
    expect(NETWORK_PRESETS.mainnet?.controller.toLowerCase()).toBe(
      "0xf96d54e490317c557a967abfa5d6e33006be69b3",
    );
    expect(NETWORK_PRESETS.rinkeby?.deprecated).toBe(true);
    for (const preset of Object.values(NETWORK_PRESETS))
      expect(getAddress(preset.controller)).toBe(preset.controller);
  });
});
