import {
  type Abi,
  type Account,
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  encodePacked,
  type Hex,
  http,
  keccak256,
  maxUint256,
  type PublicClient,
  parseEther,
  parseEventLogs,
  type TransactionReceipt,
  toBytes,
  toHex,
  type WalletClient,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../../src/eth/abis.js";
import {
  advanceToNextRound,
  contractId,
  type DevnetDeployment,
  deployDevnet,
} from "../../../src/eth/deploy.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";

// One anvil chain for the whole file; the steps build on each other like a devnet's life:
// deploy, rounds, an orchestrator, a gateway's deposit, tickets, unlock/withdraw, unbonding.

const ALL_ABIS = Object.values(abis).flat() as Abi;
const [deployer, orch, gateway, delegator] = ANVIL_KEYS.map((k) => privateKeyToAccount(k)) as [
  Account,
  Account,
  Account,
  Account,
];

let anvil: Anvil;
let publicClient: PublicClient;
let wallets: Map<Address, WalletClient<ReturnType<typeof http>, typeof foundry, Account>>;
let dev: DevnetDeployment;
type Name = keyof typeof abis;

const addr = (name: Name): Address => dev.contracts[name];

async function send(
  from: Account,
  name: Name,
  functionName: string,
  args: readonly unknown[] = [],
  value?: bigint,
): Promise<TransactionReceipt> {
  const hash = await wallets
    .get(from.address)!
    .writeContract({ address: addr(name), abi: abis[name] as Abi, functionName, args, value });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  expect(receipt.status).toBe("success");
  return receipt;
}

function read<T>(name: Name, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return publicClient.readContract({
    address: addr(name),
    abi: abis[name] as Abi,
    functionName,
    args,
  }) as Promise<T>;
}

/** The revert reason a call would get, decoded from the chain's answer (eth_call from `from`). */
async function revertReason(
  from: Account,
  name: Name,
  functionName: string,
  args: readonly unknown[] = [],
  value?: bigint,
): Promise<string | undefined> {
  try {
    await publicClient.simulateContract({
      account: from,
      address: addr(name),
      abi: abis[name] as Abi,
      functionName,
      args,
      value,
    });
  } catch (err) {
    const reverted =
      err instanceof BaseError ? err.walk((e) => e instanceof ContractFunctionRevertedError) : null;
    if (reverted instanceof ContractFunctionRevertedError) return reverted.reason ?? "";
    throw err;
  }
  throw new Error(`${name}.${functionName} did not revert`);
}

function eventNames(receipt: TransactionReceipt): string[] {
  return parseEventLogs({ abi: ALL_ABIS, logs: receipt.logs }).map((l) => l.eventName);
}

function eventArgs(receipt: TransactionReceipt, eventName: string): Record<string, unknown> {
  const log = parseEventLogs({ abi: ALL_ABIS, logs: receipt.logs }).find((l) => l.eventName === eventName);
  expect(log, `${eventName} not emitted`).toBeDefined();
  return log!.args as Record<string, unknown>;
}

const nextRound = () =>
  advanceToNextRound({ wallet: wallets.get(deployer.address)!, publicClient }, addr("RoundsManager"));

async function mineRounds(rounds: number): Promise<void> {
  const length = await read<bigint>("RoundsManager", "roundLength");
  await (publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
    method: "anvil_mine",
    params: [toHex(length * BigInt(rounds))],
  });
}

interface Ticket {
  recipient: Address;
  sender: Address;
  faceValue: bigint;
  winProb: bigint;
  senderNonce: bigint;
  recipientRandHash: Hex;
  auxData: Hex;
}

/** A ticket as go-livepeer makes one: auxData = creation round ‖ its block hash, recipientRandHash = keccak(rand). */
async function makeTicket(
  fields: Partial<Ticket> & { round: bigint; rand: bigint; signer?: Account },
): Promise<{ ticket: Ticket; sig: Hex; hash: Hex }> {
  const blockHash = await read<Hex>("RoundsManager", "blockHashForRound", [fields.round]);
  const ticket: Ticket = {
    recipient: fields.recipient ?? orch.address,
    sender: fields.sender ?? gateway.address,
    faceValue: fields.faceValue ?? parseEther("0.06"),
    winProb: fields.winProb ?? maxUint256,
    senderNonce: fields.senderNonce ?? 1n,
    recipientRandHash: keccak256(encodePacked(["uint256"], [fields.rand])),
    auxData: fields.auxData ?? encodePacked(["uint256", "bytes32"], [fields.round, blockHash]),
  };
  // The ticket hash as go-livepeer computes it (tightly packed fields), signed EIP-191.
  const hash = keccak256(
    encodePacked(
      ["address", "address", "uint256", "uint256", "uint256", "bytes32", "bytes"],
      [
        ticket.recipient,
        ticket.sender,
        ticket.faceValue,
        ticket.winProb,
        ticket.senderNonce,
        ticket.recipientRandHash,
        ticket.auxData,
      ],
    ),
  );
  const signer = fields.signer ?? gateway;
  const sig = await signer.signMessage!({ message: { raw: hash } });
  return { ticket, sig, hash };
}

beforeAll(async () => {
  anvil = await startAnvil();
  const transport = http(anvil.url);
  publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 20 });
  wallets = new Map(
    [deployer, orch, gateway, delegator].map((account) => [
      account.address,
      createWalletClient({ account, chain: foundry, transport }),
    ]),
  );
  dev = await deployDevnet({ wallet: wallets.get(deployer.address)!, publicClient });
});

afterAll(async () => {
  await anvil?.stop();
});

const LPT = (n: string) => parseEther(n);
const ORCH_STAKE = LPT("1000");
const DELEGATED = LPT("500");

describe("devnet contracts on anvil", () => {
  it("deploys the set, registers it in the Controller and sets go-livepeer's devnet parameters", async () => {
    for (const name of [
      "Minter",
      "LivepeerToken",
      "TicketBroker",
      "BondingManager",
      "RoundsManager",
    ] as const) {
      expect(await read<Address>("Controller", "getContract", [contractId(name)])).toBe(addr(name));
    }
    expect(await read<Address>("Controller", "getContract", [contractId("ServiceRegistry")])).toBe(
      addr("ServiceRegistry"),
    );
    expect(await read<Address>("Controller", "getContract", [contractId("LivepeerTokenFaucet")])).toBe(
      addr("LivepeerTokenFaucet"),
    );
    // The Minter accepts ETH only from "JobsManager": the broker is registered under that name too.
    expect(await read<Address>("Controller", "getContract", [contractId("JobsManager")])).toBe(
      addr("TicketBroker"),
    );
    expect(await read<Address>("Controller", "getContract", [contractId("Nope")])).toBe(zeroAddress);
    expect(await read<boolean>("Controller", "paused")).toBe(false);
    expect(await read<bigint>("RoundsManager", "roundLength")).toBe(50n);
    expect(await read<bigint>("RoundsManager", "roundLockAmount")).toBe(100_000n);
    expect(await read<bigint>("TicketBroker", "unlockPeriod")).toBe(50n);
    expect(await read<bigint>("TicketBroker", "ticketValidityPeriod")).toBe(2n);
    expect(await read<bigint>("BondingManager", "unbondingPeriod")).toBe(7n);
    expect(await read<bigint>("BondingManager", "getTranscoderPoolMaxSize")).toBe(50n);
    expect(await read<bigint>("Minter", "inflation")).toBe(137n);
    expect(await read<bigint>("LivepeerToken", "balanceOf", [addr("LivepeerTokenFaucet")])).toBe(
      LPT("6343700"),
    );
    const token = { address: addr("LivepeerToken"), abi: devnetTokenAbi } as const;
    expect(await publicClient.readContract({ ...token, functionName: "name" })).toBe("Livepeer Token");
    expect(await publicClient.readContract({ ...token, functionName: "symbol" })).toBe("LPT");
    expect(await publicClient.readContract({ ...token, functionName: "decimals" })).toBe(18);
  });

  it("a paused system refuses calls with the deployed reason", async () => {
    await send(deployer, "Controller", "pause");
    expect(await revertReason(gateway, "TicketBroker", "fundDeposit", [], 1n)).toBe("system is paused");
    await send(deployer, "Controller", "unpause");
    expect(await read<boolean>("Controller", "paused")).toBe(false);
  });

  it("round 0 cannot be initialised; the next one stores the previous block's hash and emits NewRound", async () => {
    expect(await read<bigint>("RoundsManager", "currentRound")).toBe(0n);
    expect(await read<boolean>("RoundsManager", "currentRoundInitialized")).toBe(true);
    expect(await revertReason(deployer, "RoundsManager", "initializeRound")).toBe(
      "round already initialized",
    );

    expect(await nextRound()).toBe(1n);
    const start = await read<bigint>("RoundsManager", "currentRoundStartBlock");
    expect(start).toBe(50n);
    expect(await read<bigint>("RoundsManager", "blockNum")).toBe(
      await publicClient.getBlockNumber({ cacheTime: 0 }),
    );
    expect(await read<bigint>("RoundsManager", "lastInitializedRound")).toBe(1n);
    const prevBlock = await publicClient.getBlock({ blockNumber: start - 1n });
    expect(await read<Hex>("RoundsManager", "blockHashForRound", [1n])).toBe(prevBlock.hash);
    const logs = await publicClient.getContractEvents({
      address: addr("RoundsManager"),
      abi: abis.RoundsManager,
      eventName: "NewRound",
      fromBlock: 0n,
    });
    expect(logs.map((l) => [l.args.round, l.args.blockHash])).toEqual([[1n, prevBlock.hash]]);
    expect(await revertReason(deployer, "RoundsManager", "initializeRound")).toBe(
      "round already initialized",
    );
  });

  it("bond to self joins the pool for the next round; transcoder() sets the terms; activation is next round", async () => {
    await send(deployer, "LivepeerToken", "transfer", [orch.address, ORCH_STAKE]);
    await send(deployer, "LivepeerToken", "transfer", [delegator.address, DELEGATED]);
    await send(orch, "LivepeerToken", "approve", [addr("BondingManager"), ORCH_STAKE]);
    const bond = await send(orch, "BondingManager", "bondWithHint", [
      ORCH_STAKE,
      orch.address,
      zeroAddress,
      zeroAddress,
      zeroAddress,
      zeroAddress,
    ]);
    // A first bond starts with an (empty) earnings claim, as on the deployed contract.
    expect(eventNames(bond)).toEqual([
      "EarningsClaimed",
      "TranscoderActivated",
      "Approval",
      "Transfer",
      "Bond",
    ]);
    expect(eventArgs(bond, "TranscoderActivated")).toEqual({ transcoder: orch.address, activationRound: 2n });
    expect(eventArgs(bond, "Bond")).toMatchObject({
      newDelegate: orch.address,
      oldDelegate: zeroAddress,
      delegator: orch.address,
      additionalAmount: ORCH_STAKE,
      bondedAmount: ORCH_STAKE,
    });
    // The bonded LPT sits in the Minter.
    expect(await read<bigint>("LivepeerToken", "balanceOf", [addr("Minter")])).toBe(ORCH_STAKE);

    const update = await send(orch, "BondingManager", "transcoder", [100_000n, 50_000n]);
    expect(eventNames(update)).toEqual(["TranscoderUpdate"]);
    expect(await read<number>("BondingManager", "transcoderStatus", [orch.address])).toBe(1);
    expect(await read<boolean>("BondingManager", "isActiveTranscoder", [orch.address])).toBe(false);
    expect(await read<number>("BondingManager", "delegatorStatus", [orch.address])).toBe(0); // Pending
    expect(await revertReason(orch, "BondingManager", "rewardWithHint", [zeroAddress, zeroAddress])).toBe(
      "caller must be an active transcoder",
    );

    await send(delegator, "LivepeerToken", "approve", [addr("BondingManager"), DELEGATED]);
    const delegation = await send(delegator, "BondingManager", "bond", [DELEGATED, orch.address]);
    expect(eventNames(delegation)).toEqual(["EarningsClaimed", "Approval", "Transfer", "Bond"]);
    expect(await read<bigint>("BondingManager", "transcoderTotalStake", [orch.address])).toBe(
      ORCH_STAKE + DELEGATED,
    );
    expect(await read<bigint>("BondingManager", "getTranscoderPoolSize")).toBe(1n);
    expect(await read<Address>("BondingManager", "getFirstTranscoderInPool")).toBe(orch.address);
    expect(await read<Address>("BondingManager", "getNextTranscoderInPool", [orch.address])).toBe(
      zeroAddress,
    );
    expect(await read<bigint>("BondingManager", "nextRoundTotalActiveStake")).toBe(ORCH_STAKE + DELEGATED);
    const t = await read<readonly bigint[]>("BondingManager", "getTranscoder", [orch.address]);
    expect([t[1], t[2], t[4], t[5]]).toEqual([100_000n, 50_000n, 2n, maxUint256]);
  });

  it("terms cannot change in the round's lock window", async () => {
    const start = await read<bigint>("RoundsManager", "currentRoundStartBlock");
    const block = await publicClient.getBlockNumber({ cacheTime: 0 });
    // The last 10% (5 blocks of 50) of a round are locked.
    await (publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)(
      {
        method: "anvil_mine",
        params: [toHex(start + 45n - block)],
      },
    );
    expect(await read<boolean>("RoundsManager", "currentRoundLocked")).toBe(true);
    expect(await revertReason(orch, "BondingManager", "transcoder", [1n, 1n])).toBe(
      "can't update transcoder params, current round is locked",
    );
  });

  it("an active transcoder mints its share of the round's rewards once per round", async () => {
    expect(await nextRound()).toBe(2n);
    expect(await read<boolean>("BondingManager", "isActiveTranscoder", [orch.address])).toBe(true);
    expect(await read<bigint>("BondingManager", "getTotalBonded")).toBe(ORCH_STAKE + DELEGATED);
    const mintable = await read<bigint>("Minter", "currentMintableTokens");
    const supply = await read<bigint>("LivepeerToken", "totalSupply");
    expect(mintable).toBeGreaterThan(0n);
    // Bonding rate below target: inflation rose by inflationChange at each of the two initialised rounds.
    expect(await read<bigint>("Minter", "inflation")).toBe(143n);
    expect(mintable).toBe((supply * 143n) / 1_000_000n);

    const reward = await send(orch, "BondingManager", "rewardWithHint", [zeroAddress, zeroAddress]);
    expect(eventNames(reward)).toEqual(["Transfer", "Mint", "Reward"]);
    // The only active transcoder holds all active stake, so it mints the whole round's budget.
    expect(eventArgs(reward, "Reward")).toEqual({ transcoder: orch.address, amount: mintable });
    expect(await read<bigint>("LivepeerToken", "totalSupply")).toBe(supply + mintable);
    expect(await read<bigint>("BondingManager", "transcoderTotalStake", [orch.address])).toBe(
      ORCH_STAKE + DELEGATED + mintable,
    );
    expect(await revertReason(orch, "BondingManager", "reward")).toBe(
      "caller has already called reward for the current round",
    );
    // The reward is shared between the orchestrator (10% cut + its stake share) and the delegator.
    const orchStake = await read<bigint>("BondingManager", "pendingStake", [orch.address, 2n]);
    const delStake = await read<bigint>("BondingManager", "pendingStake", [delegator.address, 2n]);
    const delegatorsReward = mintable - mintable / 10n;
    expect(delStake - DELEGATED).toBe(delegatorsReward / 3n);
    expect(orchStake + delStake).toBeLessThanOrEqual(ORCH_STAKE + DELEGATED + mintable);
    expect(orchStake + delStake).toBeGreaterThanOrEqual(ORCH_STAKE + DELEGATED + mintable - 2n);
  });

  it("funds a deposit and reserve (ReserveFunded then DepositFunded; the ETH goes to the Minter)", async () => {
    const funding = await send(
      gateway,
      "TicketBroker",
      "fundDepositAndReserve",
      [parseEther("1"), parseEther("1")],
      parseEther("2"),
    );
    expect(eventNames(funding)).toEqual(["ReserveFunded", "DepositFunded"]);
    expect(await publicClient.getBalance({ address: addr("Minter") })).toBe(parseEther("2"));
    expect(await publicClient.getBalance({ address: addr("TicketBroker") })).toBe(0n);
    expect(await read("TicketBroker", "getSenderInfo", [gateway.address])).toEqual([
      { deposit: parseEther("1"), withdrawRound: 0n },
      { fundsRemaining: parseEther("1"), claimedInCurrentRound: 0n },
    ]);
    expect(await revertReason(gateway, "TicketBroker", "fundDepositAndReserve", [1n, 1n], 3n)).toBe(
      "msg.value does not equal sum of deposit amount and reserve amount",
    );
  });

  it("redeems a winning ticket: the recipient's fees rise by its face value; a replay reverts", async () => {
    // The protocol's default test ticket hashes to the known vector on chain too.
    const defaultTicket = {
      recipient: zeroAddress,
      sender: zeroAddress,
      faceValue: 0n,
      winProb: 0n,
      senderNonce: 0n,
      recipientRandHash: `0x${"00".repeat(32)}` as Hex,
      auxData: encodePacked(["uint256", "bytes32"], [10n, keccak256(toBytes("foo"))]),
    };
    expect(await read<Hex>("TicketBroker", "getTicketHash", [defaultTicket])).toBe(
      "0xe502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2",
    );

    const faceValue = parseEther("0.06");
    const { ticket, sig, hash } = await makeTicket({ round: 2n, rand: 5n, faceValue });
    expect(await read<Hex>("TicketBroker", "getTicketHash", [ticket])).toBe(hash);
    expect(await read<boolean>("TicketBroker", "usedTickets", [hash])).toBe(false);

    const redeem = await send(orch, "TicketBroker", "redeemWinningTicket", [ticket, sig, 5n]);
    expect(eventNames(redeem)).toEqual(["WinningTicketTransfer", "WinningTicketRedeemed"]);
    expect(eventArgs(redeem, "WinningTicketTransfer")).toEqual({
      sender: gateway.address,
      recipient: orch.address,
      amount: faceValue,
    });
    expect(eventArgs(redeem, "WinningTicketRedeemed")).toEqual({
      sender: gateway.address,
      recipient: orch.address,
      faceValue,
      winProb: maxUint256,
      senderNonce: 1n,
      recipientRand: 5n,
      auxData: ticket.auxData,
    });
    expect(await read<boolean>("TicketBroker", "usedTickets", [hash])).toBe(true);
    const [sender] = await read<[{ deposit: bigint }]>("TicketBroker", "getSenderInfo", [gateway.address]);
    expect(sender.deposit).toBe(parseEther("1") - faceValue);
    // 95% commission to the orchestrator, 5% shared by stake: 2/3 to it, 1/3 to its delegator.
    const shared = (faceValue * 50_000n) / 1_000_000n;
    expect(await read<bigint>("BondingManager", "pendingFees", [orch.address, 2n])).toBe(
      faceValue - shared + (shared * 2n) / 3n,
    );
    expect(await read<bigint>("BondingManager", "pendingFees", [delegator.address, 2n])).toBe(shared / 3n);

    expect(await revertReason(orch, "TicketBroker", "redeemWinningTicket", [ticket, sig, 5n])).toBe(
      "ticket is used",
    );
  });

  it("rejects bad tickets with the deployed reasons, in the deployed order of checks", async () => {
    const redeem = async (t: Awaited<ReturnType<typeof makeTicket>>, rand: bigint, from = orch) =>
      revertReason(from, "TicketBroker", "redeemWinningTicket", [t.ticket, t.sig, rand]);

    const good = await makeTicket({ round: 2n, rand: 9n, senderNonce: 2n });
    expect(await redeem(good, 8n)).toBe("recipientRand does not match recipientRandHash");
    expect(
      await redeem(await makeTicket({ round: 2n, rand: 9n, senderNonce: 3n, signer: delegator }), 9n),
    ).toBe("invalid signature over ticket hash");
    expect(
      await revertReason(orch, "TicketBroker", "redeemWinningTicket", [good.ticket, `${good.sig}00`, 9n]),
    ).toBe("INVALID_SIGNATURE_LENGTH");
    expect(await redeem(await makeTicket({ round: 2n, rand: 9n, senderNonce: 4n, winProb: 0n }), 9n)).toBe(
      "ticket did not win",
    );
    expect(await redeem(await makeTicket({ round: 2n, rand: 9n, senderNonce: 5n, auxData: "0x" }), 9n)).toBe(
      "invalid length for ticket auxData: must be 64 bytes",
    );
    const wrongHash = encodePacked(["uint256", "bytes32"], [2n, keccak256(toBytes("other"))]);
    expect(
      await redeem(await makeTicket({ round: 2n, rand: 9n, senderNonce: 6n, auxData: wrongHash }), 9n),
    ).toBe("ticket creationRoundBlockHash invalid for creationRound");
    expect(await redeem(await makeTicket({ round: 7n, rand: 9n, senderNonce: 7n }), 9n)).toBe(
      "ticket creationRound does not have a block hash",
    );
    expect(await redeem(await makeTicket({ round: 2n, rand: 9n, recipient: zeroAddress }), 9n)).toBe(
      "ticket recipient is null address",
    );
    // The recipient check comes before the auxData check.
    expect(
      await redeem(await makeTicket({ round: 2n, rand: 9n, recipient: zeroAddress, auxData: "0x" }), 9n),
    ).toBe("ticket recipient is null address");
    // A recipient that is not an orchestrator: the fee booking reverts the whole redemption.
    expect(
      await redeem(
        await makeTicket({ round: 2n, rand: 9n, senderNonce: 8n, recipient: delegator.address }),
        9n,
      ),
    ).toBe("transcoder must be registered");
    // A sender with nothing deposited.
    expect(
      await redeem(
        await makeTicket({
          round: 2n,
          rand: 9n,
          senderNonce: 9n,
          sender: deployer.address,
          signer: deployer,
        }),
        9n,
      ),
    ).toBe("sender deposit and reserve are zero");
  });

  it("a ticket from the previous round still redeems, claiming the rest from the reserve", async () => {
    expect(await nextRound()).toBe(3n);
    const [before] = await read<[{ deposit: bigint }]>("TicketBroker", "getSenderInfo", [gateway.address]);
    // Face value above the deposit: the rest comes from this orchestrator's share of the reserve.
    const { ticket, sig } = await makeTicket({
      round: 2n,
      rand: 11n,
      senderNonce: 20n,
      faceValue: before.deposit + parseEther("0.5"),
    });
    const redeem = await send(orch, "TicketBroker", "redeemWinningTicket", [ticket, sig, 11n]);
    expect(eventNames(redeem)).toEqual(["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"]);
    expect(eventArgs(redeem, "ReserveClaimed")).toEqual({
      reserveHolder: gateway.address,
      claimant: orch.address,
      amount: parseEther("0.5"),
    });
    expect(await read<bigint>("TicketBroker", "claimedReserve", [gateway.address, orch.address])).toBe(
      parseEther("0.5"),
    );
    expect(await read("TicketBroker", "getSenderInfo", [gateway.address])).toEqual([
      { deposit: 0n, withdrawRound: 0n },
      { fundsRemaining: parseEther("0.5"), claimedInCurrentRound: parseEther("0.5") },
    ]);
    // One active transcoder: it may claim up to the whole reserve per round, minus what it took.
    expect(await read<bigint>("TicketBroker", "claimableReserve", [gateway.address, orch.address])).toBe(
      parseEther("0.5"),
    );
    expect(await read<bigint>("TicketBroker", "claimableReserve", [gateway.address, delegator.address])).toBe(
      0n,
    );
  });

  it("a ticket two rounds old is expired", async () => {
    const { ticket, sig } = await makeTicket({ round: 3n, rand: 12n, senderNonce: 30n });
    expect(await nextRound()).toBe(4n);
    const old = await makeTicket({ round: 2n, rand: 12n, senderNonce: 31n });
    expect(await revertReason(orch, "TicketBroker", "redeemWinningTicket", [old.ticket, old.sig, 12n])).toBe(
      "ticket is expired",
    );
    // One round old is still fine (only simulated: the state is kept for the unlock test).
    await publicClient.simulateContract({
      account: orch,
      address: addr("TicketBroker"),
      abi: abis.TicketBroker,
      functionName: "redeemWinningTicket",
      args: [ticket, sig, 12n],
    });
  });

  it("shares rewards and fees so that the parts add up to the whole over several rounds", async () => {
    // Round 4: a second reward, after a round (3) with fees but no reward; the first reward's
    // commission is now stake of the orchestrator alone.
    await send(orch, "BondingManager", "reward");
    const total = await read<bigint>("BondingManager", "transcoderTotalStake", [orch.address]);
    const orchStake = await read<bigint>("BondingManager", "pendingStake", [orch.address, 4n]);
    const delStake = await read<bigint>("BondingManager", "pendingStake", [delegator.address, 4n]);
    expect(orchStake + delStake).toBeLessThanOrEqual(total);
    expect(total - (orchStake + delStake)).toBeLessThan(10n); // rounding of the 27-decimal factors only
    expect(delStake).toBeGreaterThan(DELEGATED);
    // Fees booked: 0.06 ETH (first ticket) + 1.44 ETH (deposit rest and reserve claim).
    const orchFees = await read<bigint>("BondingManager", "pendingFees", [orch.address, 4n]);
    const delFees = await read<bigint>("BondingManager", "pendingFees", [delegator.address, 4n]);
    expect(orchFees + delFees).toBeLessThanOrEqual(parseEther("1.5"));
    expect(parseEther("1.5") - (orchFees + delFees)).toBeLessThan(10n);
    expect(delFees).toBeGreaterThan(0n);
    // Claiming folds the same amounts into the delegator's bond, with an EarningsClaimed event.
    const claim = await send(delegator, "BondingManager", "claimEarnings", [4n]);
    expect(eventArgs(claim, "EarningsClaimed")).toMatchObject({
      delegate: orch.address,
      delegator: delegator.address,
      rewards: delStake - DELEGATED,
      fees: delFees,
      endRound: 4n,
    });
    const d = await read<readonly unknown[]>("BondingManager", "getDelegator", [delegator.address]);
    expect([d[0], d[1], d[2], d[5]]).toEqual([delStake, delFees, orch.address, 4n]);
  });

  it("unlock waits unlockPeriod rounds; the sender's own funding cancels it; withdraw pays deposit and reserve", async () => {
    // Mining 50 rounds of 50 blocks takes anvil several seconds: shorten the period (a parameter change).
    const param = await send(deployer, "TicketBroker", "setUnlockPeriod", [3n]);
    expect(eventArgs(param, "ParameterUpdate")).toEqual({ param: "unlockPeriod" });
    expect(await revertReason(gateway, "TicketBroker", "setUnlockPeriod", [1n])).toBe(
      "caller must be Controller owner",
    );
    const unlock = await send(gateway, "TicketBroker", "unlock");
    expect(eventNames(unlock)).toEqual(["Unlock"]);
    expect(eventArgs(unlock, "Unlock")).toEqual({ sender: gateway.address, startRound: 4n, endRound: 7n });
    expect(await read<boolean>("TicketBroker", "isUnlockInProgress", [gateway.address])).toBe(true);
    expect(await revertReason(gateway, "TicketBroker", "unlock")).toBe("unlock already initiated");
    expect(await revertReason(gateway, "TicketBroker", "withdraw")).toBe("account is locked");

    const refund = await send(
      gateway,
      "TicketBroker",
      "fundDepositAndReserve",
      [parseEther("0.1"), parseEther("0.1")],
      parseEther("0.2"),
    );
    expect(eventNames(refund)).toEqual(["UnlockCancelled", "ReserveFunded", "DepositFunded"]);
    expect(await read<boolean>("TicketBroker", "isUnlockInProgress", [gateway.address])).toBe(false);
    expect(await revertReason(gateway, "TicketBroker", "cancelUnlock")).toBe("no unlock request in progress");
    expect(await revertReason(gateway, "TicketBroker", "withdraw")).toBe("no unlock request in progress");

    await send(gateway, "TicketBroker", "unlock");
    await mineRounds(2);
    expect(await revertReason(gateway, "TicketBroker", "withdraw")).toBe("account is locked");
    expect(await nextRound()).toBe(7n);
    const late = await makeTicket({ round: 7n, rand: 13n, senderNonce: 40n });
    expect(
      await revertReason(orch, "TicketBroker", "redeemWinningTicket", [late.ticket, late.sig, 13n]),
    ).toBe("sender is unlocked");

    const balance = await publicClient.getBalance({ address: gateway.address });
    const minterBalance = await publicClient.getBalance({ address: addr("Minter") });
    const withdrawal = await send(gateway, "TicketBroker", "withdraw");
    expect(eventNames(withdrawal)).toEqual(["Withdrawal"]);
    expect(eventArgs(withdrawal, "Withdrawal")).toEqual({
      sender: gateway.address,
      deposit: parseEther("0.1"),
      reserve: parseEther("0.6"),
    });
    const gas = withdrawal.gasUsed * withdrawal.effectiveGasPrice;
    expect(await publicClient.getBalance({ address: gateway.address })).toBe(
      balance + parseEther("0.7") - gas,
    );
    expect(await publicClient.getBalance({ address: addr("Minter") })).toBe(
      minterBalance - parseEther("0.7"),
    );
    expect(await revertReason(gateway, "TicketBroker", "withdraw")).toBe(
      "sender deposit and reserve are zero",
    );
  });

  it("fees are withdrawn from the Minter; stake unbonds into locks that rebond or withdraw after unbondingPeriod", async () => {
    const fees = await read<bigint>("BondingManager", "pendingFees", [orch.address, 0n]);
    const balance = await publicClient.getBalance({ address: orch.address });
    const withdrawFees = await send(orch, "BondingManager", "withdrawFees", [orch.address, fees]);
    expect(eventNames(withdrawFees)).toEqual(["EarningsClaimed", "WithdrawFees"]);
    const gas = withdrawFees.gasUsed * withdrawFees.effectiveGasPrice;
    expect(await publicClient.getBalance({ address: orch.address })).toBe(balance + fees - gas);
    expect(await revertReason(orch, "BondingManager", "withdrawFees", [orch.address, 1n])).toBe(
      "insufficient fees to withdraw",
    );

    const unbond = await send(delegator, "BondingManager", "unbond", [LPT("100")]);
    expect(eventNames(unbond)).toEqual(["EarningsClaimed", "Unbond"]);
    expect(eventArgs(unbond, "Unbond")).toEqual({
      delegate: orch.address,
      delegator: delegator.address,
      unbondingLockId: 0n,
      amount: LPT("100"),
      withdrawRound: 14n,
    });
    expect(eventNames(await send(delegator, "BondingManager", "rebond", [0n]))).toEqual(["Rebond"]);
    expect(await read<boolean>("BondingManager", "isValidUnbondingLock", [delegator.address, 0n])).toBe(
      false,
    );
    await send(delegator, "BondingManager", "unbond", [LPT("100")]);
    expect(await read("BondingManager", "getDelegatorUnbondingLock", [delegator.address, 1n])).toEqual([
      LPT("100"),
      14n,
    ]);
    expect(await revertReason(delegator, "BondingManager", "withdrawStake", [1n])).toBe(
      "withdraw round must be before or equal to the current round",
    );
    await mineRounds(6);
    expect(await nextRound()).toBe(14n);
    const lpt = await read<bigint>("LivepeerToken", "balanceOf", [delegator.address]);
    const withdraw = await send(delegator, "BondingManager", "withdrawStake", [1n]);
    expect(eventNames(withdraw)).toEqual(["Transfer", "WithdrawStake"]);
    expect(await read<bigint>("LivepeerToken", "balanceOf", [delegator.address])).toBe(lpt + LPT("100"));

    // An orchestrator that unbonds everything leaves the pool from the next round.
    const all = await read<bigint>("BondingManager", "pendingStake", [orch.address, 0n]);
    const leave = await send(orch, "BondingManager", "unbond", [all]);
    expect(eventNames(leave)).toEqual(["EarningsClaimed", "TranscoderDeactivated", "Unbond"]);
    expect(eventArgs(leave, "TranscoderDeactivated")).toEqual({
      transcoder: orch.address,
      deactivationRound: 15n,
    });
    expect(await read<bigint>("BondingManager", "getTranscoderPoolSize")).toBe(0n);
    expect(await read<number>("BondingManager", "transcoderStatus", [orch.address])).toBe(0);
  });

  it("keeps the pool sorted by stake and evicts the smallest member when full", async () => {
    // The orchestrator comes back with its unbonding lock.
    const back = await send(orch, "BondingManager", "rebondFromUnbonded", [orch.address, 0n]);
    expect(eventNames(back)).toEqual(["TranscoderActivated", "Rebond"]);
    expect(await read<number>("BondingManager", "transcoderStatus", [orch.address])).toBe(1);
    await send(deployer, "BondingManager", "setNumActiveTranscoders", [2n]);

    const fresh = async (seed: string, stake: bigint) => {
      const account = privateKeyToAccount(keccak256(toBytes(seed)));
      wallets.set(
        account.address,
        createWalletClient({ account, chain: foundry, transport: http(anvil.url) }),
      );
      const fund = await wallets
        .get(deployer.address)!
        .sendTransaction({ to: account.address, value: parseEther("1") });
      await publicClient.waitForTransactionReceipt({ hash: fund, pollingInterval: 20 });
      await send(deployer, "LivepeerToken", "transfer", [account.address, stake]);
      await send(account, "LivepeerToken", "approve", [addr("BondingManager"), stake]);
      return account;
    };
    const small = await fresh("small", LPT("100"));
    // Hints that are not neighbours in the pool cost a walk but still work.
    const joined = await send(small, "BondingManager", "bondWithHint", [
      LPT("100"),
      small.address,
      zeroAddress,
      zeroAddress,
      delegator.address,
      gateway.address,
    ]);
    expect(eventNames(joined)).toEqual([
      "EarningsClaimed",
      "TranscoderActivated",
      "Approval",
      "Transfer",
      "Bond",
    ]);

    // Full pool: a bigger newcomer evicts the smallest member (deactivated for the same next round).
    const big = await fresh("big", LPT("200"));
    // A correct hint: between the orchestrator and the smallest member.
    const evicting = await send(big, "BondingManager", "bondWithHint", [
      LPT("200"),
      big.address,
      zeroAddress,
      zeroAddress,
      orch.address,
      small.address,
    ]);
    expect(eventNames(evicting)).toEqual([
      "EarningsClaimed",
      "TranscoderDeactivated",
      "TranscoderActivated",
      "Approval",
      "Transfer",
      "Bond",
    ]);
    expect(eventArgs(evicting, "TranscoderDeactivated")).toEqual({
      transcoder: small.address,
      deactivationRound: 15n,
    });

    const walk: Address[] = [];
    for (
      let t = await read<Address>("BondingManager", "getFirstTranscoderInPool");
      t !== zeroAddress;
      t = await read<Address>("BondingManager", "getNextTranscoderInPool", [t])
    ) {
      walk.push(t);
    }
    expect(walk).toEqual([orch.address, big.address]);
    expect(await read<bigint>("BondingManager", "getTranscoderPoolSize")).toBe(2n);
    // Still registered (bonded to itself), but out of the pool: never active.
    expect(await read<number>("BondingManager", "transcoderStatus", [small.address])).toBe(1);
    expect(await nextRound()).toBe(15n);
    expect(await read<boolean>("BondingManager", "isActiveTranscoder", [small.address])).toBe(false);
    expect(await read<boolean>("BondingManager", "isActiveTranscoder", [big.address])).toBe(true);
    expect(await read<bigint>("BondingManager", "getTotalBonded")).toBe(
      (await read<bigint>("BondingManager", "transcoderTotalStake", [orch.address])) + LPT("200"),
    );
  });

  it("service URIs and the faucet", async () => {
    const set = await send(orch, "ServiceRegistry", "setServiceURI", ["https://127.0.0.1:8935"]);
    expect(eventArgs(set, "ServiceURIUpdate")).toEqual({
      addr: orch.address,
      serviceURI: "https://127.0.0.1:8935",
    });
    expect(await read<string>("ServiceRegistry", "getServiceURI", [orch.address])).toBe(
      "https://127.0.0.1:8935",
    );

    const before = await read<bigint>("LivepeerToken", "balanceOf", [gateway.address]);
    const request = await send(gateway, "LivepeerTokenFaucet", "request");
    expect(eventNames(request)).toEqual(["Transfer", "Request"]);
    expect(await read<bigint>("LivepeerToken", "balanceOf", [gateway.address])).toBe(before + LPT("10"));
    const block = await publicClient.getBlock({ blockNumber: request.blockNumber });
    expect(await read<bigint>("LivepeerTokenFaucet", "nextValidRequest", [gateway.address])).toBe(
      block.timestamp + 3600n,
    );
    // Too early for a second request: the deployed faucet reverts without a reason, which viem
    // reports as a bare "execution reverted".
    expect(await revertReason(gateway, "LivepeerTokenFaucet", "request")).toBe("execution reverted");
  });
});

// name/symbol/decimals are not in contracts-abi (go-livepeer does not call them); read them with the devnet ABI.
const devnetTokenAbi = [
  { type: "function", name: "name", inputs: [], outputs: [{ type: "string" }], stateMutability: "view" },
  { type: "function", name: "symbol", inputs: [], outputs: [{ type: "string" }], stateMutability: "view" },
  { type: "function", name: "decimals", inputs: [], outputs: [{ type: "uint8" }], stateMutability: "view" },
] as const;
