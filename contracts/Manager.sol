// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IController, IRoundsManager, IBondingManager, IMinter, ILivepeerToken} from "./Interfaces.sol";

/// @title Manager: what every protocol contract shares, the Controller link and its guards.
/// @dev Deployed Livepeer contracts sit behind proxies; the devnet deploys them directly, so the
/// Controller entry of a contract is its own address and there is no `<Name>Target` indirection.
abstract contract Manager {
    IController public controller;

    event SetController(address controller);
    event ParameterUpdate(string param);

    constructor(address _controller) {
        controller = IController(_controller);
    }

    // The revert strings below are the deployed ones: nodes and tests match on them.
    modifier onlyControllerOwner() {
        require(msg.sender == controller.owner(), "caller must be Controller owner");
        _;
    }

    modifier whenSystemNotPaused() {
        require(!controller.paused(), "system is paused");
        _;
    }

    modifier whenRoundInitialized() {
        require(roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    function lookup(string memory _name) internal view returns (address) {
        return controller.getContract(keccak256(bytes(_name)));
    }

    function roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(lookup("RoundsManager"));
    }

    function bondingManager() internal view returns (IBondingManager) {
        return IBondingManager(lookup("BondingManager"));
    }

    function minter() internal view returns (IMinter) {
        return IMinter(lookup("Minter"));
    }

    function livepeerToken() internal view returns (ILivepeerToken) {
        return ILivepeerToken(lookup("LivepeerToken"));
    }
}
