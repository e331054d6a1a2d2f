// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Manager} from "./Manager.sol";

/// @title Minter: mints the per-round LPT rewards and holds the protocol's ETH and bonded LPT.
/// @notice Inflation is in parts per million (PERC_DIVISOR 1,000,000) and moves toward a target
/// bonding rate once per round, as the deployed Minter does. The devnet has no L1 supply, so the
/// global total supply is the token's own total supply (the deployed one adds an L1 figure read
/// from an L2LPTDataCache contract).
contract Minter is Manager {
    uint256 private constant PERC_DIVISOR = 1000000;

    uint256 public inflation;
    uint256 public inflationChange;
    uint256 public targetBondingRate;
    uint256 public currentMintableTokens;
    uint256 public currentMintedTokens;

    event SetCurrentRewardTokens(uint256 currentMintableTokens, uint256 currentInflation);

    modifier onlyBondingManager() {
        require(msg.sender == lookup("BondingManager"), "msg.sender not BondingManager");
        _;
    }

    modifier onlyRoundsManager() {
        require(msg.sender == lookup("RoundsManager"), "msg.sender not RoundsManager");
        _;
    }

    // The TicketBroker is registered as "JobsManager" too: that is the name the deployed Minter checks.
    modifier onlyBondingManagerOrJobsManager() {
        require(
            msg.sender == lookup("BondingManager") || msg.sender == lookup("JobsManager"),
            "msg.sender not BondingManager or JobsManager"
        );
        _;
    }

    modifier onlyMinterOrJobsManager() {
        require(
            msg.sender == lookup("Minter") || msg.sender == lookup("JobsManager"),
            "msg.sender not Minter or JobsManager"
        );
        _;
    }

    constructor(
        address _controller,
        uint256 _inflation,
        uint256 _inflationChange,
        uint256 _targetBondingRate
    ) Manager(_controller) {
        require(_inflation <= PERC_DIVISOR, "_inflation is invalid percentage");
        require(_inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage");
        require(_targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage");
        inflation = _inflation;
        inflationChange = _inflationChange;
        targetBondingRate = _targetBondingRate;
    }

    function setTargetBondingRate(uint256 _targetBondingRate) external onlyControllerOwner {
        require(_targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage");
        targetBondingRate = _targetBondingRate;
        emit ParameterUpdate("targetBondingRate");
    }

    function setInflationChange(uint256 _inflationChange) external onlyControllerOwner {
        require(_inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage");
        inflationChange = _inflationChange;
        emit ParameterUpdate("inflationChange");
    }

    /// @notice Mints the share `_fracNum / _fracDenom` of this round's mintable tokens to the Minter itself
    /// (rewards stay bonded, so the tokens stay here until a delegator withdraws stake).
    function createReward(uint256 _fracNum, uint256 _fracDenom)
        external
        onlyBondingManager
        whenSystemNotPaused
        returns (uint256)
    {
        uint256 mintAmount = (currentMintableTokens * _fracNum) / _fracDenom;
        currentMintedTokens += mintAmount;
        require(currentMintedTokens <= currentMintableTokens, "minted tokens cannot exceed mintable tokens");
        livepeerToken().mint(address(this), mintAmount);
        return mintAmount;
    }

    function trustedTransferTokens(address _to, uint256 _amount) external onlyBondingManager whenSystemNotPaused {
        livepeerToken().transfer(_to, _amount);
    }

    function trustedBurnTokens(uint256 _amount) external onlyBondingManager whenSystemNotPaused {
        livepeerToken().burn(_amount);
    }

    /// @notice Pays out ETH for ticket-broker withdrawals and fee withdrawals.
    function trustedWithdrawETH(address payable _to, uint256 _amount)
        external
        onlyBondingManagerOrJobsManager
        whenSystemNotPaused
    {
        (bool ok,) = _to.call{value: _amount}("");
        require(ok, "ETH transfer failed");
    }

    /// @notice The ticket broker forwards every deposit and reserve here.
    function depositETH() external payable onlyMinterOrJobsManager returns (bool) {
        return true;
    }

    /// @notice Called by the RoundsManager from initializeRound: adjusts inflation, then fixes this round's budget.
    function setCurrentRewardTokens() external onlyRoundsManager whenSystemNotPaused {
        setInflation();
        currentMintableTokens = (getGlobalTotalSupply() * inflation) / PERC_DIVISOR;
        currentMintedTokens = 0;
        emit SetCurrentRewardTokens(currentMintableTokens, inflation);
    }

    function getGlobalTotalSupply() public view returns (uint256) {
        return livepeerToken().totalSupply();
    }

    function setInflation() internal {
        uint256 currentBondingRate;
        uint256 totalSupply = getGlobalTotalSupply();
        if (totalSupply > 0) {
            currentBondingRate = (bondingManager().getTotalBonded() * PERC_DIVISOR) / totalSupply;
        }
        if (currentBondingRate < targetBondingRate) {
            inflation += inflationChange;
        } else if (currentBondingRate > targetBondingRate) {
            inflation = inflationChange > inflation ? 0 : inflation - inflationChange;
        }
    }
}
