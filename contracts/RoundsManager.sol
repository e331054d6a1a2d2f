// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Manager} from "./Manager.sol";

/// @title RoundsManager: rounds of `roundLength` blocks, counted from `block.number`.
/// @notice `blockNum()` is `block.number` (on Arbitrum that is the L1 block number, which is why nodes
/// track L1 blocks); a devnet on anvil uses plain block numbers. Rounds are counted from the last
/// round-length change so that changing the length never renumbers past rounds.
contract RoundsManager is Manager {
    uint256 private constant PERC_DIVISOR = 1000000;

    uint256 public roundLength;
    uint256 public roundLockAmount;
    uint256 public lastInitializedRound;
    uint256 public lastRoundLengthUpdateRound;
    uint256 public lastRoundLengthUpdateStartBlock;

    mapping(uint256 => bytes32) private _blockHashForRound;

    event NewRound(uint256 indexed round, bytes32 blockHash);

    constructor(address _controller) Manager(_controller) {}

    function setRoundLength(uint256 _roundLength) external onlyControllerOwner {
        require(_roundLength > 0, "round length cannot be 0");
        if (roundLength == 0) {
            // First setting: rounds start at block 0, so round N begins at block N * length.
            roundLength = _roundLength;
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
        } else {
            // Later changes take the current round's start as the new origin.
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
            roundLength = _roundLength;
        }
        emit ParameterUpdate("roundLength");
    }

    /// @notice Share of the round (parts per million) at its end during which transcoders cannot change terms.
    function setRoundLockAmount(uint256 _roundLockAmount) external onlyControllerOwner {
        require(_roundLockAmount <= PERC_DIVISOR, "round lock amount must be a valid percentage");
        roundLockAmount = _roundLockAmount;
        emit ParameterUpdate("roundLockAmount");
    }

    /// @notice Starts the current round: stores the previous block's hash (tickets commit to it), snapshots
    /// the active stake and sets the round's mintable rewards, in that order, then emits NewRound.
    function initializeRound() external whenSystemNotPaused {
        uint256 currRound = currentRound();
        require(lastInitializedRound < currRound, "round already initialized");
        lastInitializedRound = currRound;
        bytes32 roundBlockHash = blockHash(blockNum() - 1);
        _blockHashForRound[currRound] = roundBlockHash;
        bondingManager().setCurrentRoundTotalActiveStake();
        minter().setCurrentRewardTokens();
        emit NewRound(currRound, roundBlockHash);
    }

    function blockNum() public view returns (uint256) {
        return block.number;
    }

    function blockHash(uint256 _block) public view returns (bytes32) {
        uint256 currentBlock = blockNum();
        require(_block < currentBlock, "can only retrieve past block hashes");
        require(currentBlock < 256 || _block >= currentBlock - 256, "can only retrieve hashes for last 256 blocks");
        return blockhash(_block);
    }

    function blockHashForRound(uint256 _round) public view returns (bytes32) {
        return _blockHashForRound[_round];
    }

    function currentRound() public view returns (uint256) {
        if (roundLength == 0) return lastRoundLengthUpdateRound;
        return lastRoundLengthUpdateRound + (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength;
    }

    function currentRoundStartBlock() public view returns (uint256) {
        if (roundLength == 0) return lastRoundLengthUpdateStartBlock;
        uint256 roundsSinceUpdate = (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength;
        return lastRoundLengthUpdateStartBlock + roundsSinceUpdate * roundLength;
    }

    function currentRoundInitialized() public view returns (bool) {
        return lastInitializedRound == currentRound();
    }

    /// @notice True during the last `roundLockAmount` share of the round.
    function currentRoundLocked() public view returns (bool) {
        uint256 lockedBlocks = (roundLength * roundLockAmount) / PERC_DIVISOR;
        return blockNum() - currentRoundStartBlock() >= roundLength - lockedBlocks;
    }
}
