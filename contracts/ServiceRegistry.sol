// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Manager} from "./Manager.sol";

/// @title ServiceRegistry: where an orchestrator publishes the URI gateways reach it at.
/// @notice The same contract serves as the AI service registry (the deployed one has this ABI too).
contract ServiceRegistry is Manager {
    mapping(address => string) private serviceURIs;

    event ServiceURIUpdate(address indexed addr, string serviceURI);

    constructor(address _controller) Manager(_controller) {}

    /// @notice Anyone may publish a URI for their own address; only registered orchestrators are discovered.
    function setServiceURI(string calldata _serviceURI) external whenSystemNotPaused {
        serviceURIs[msg.sender] = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    function getServiceURI(address _addr) public view returns (string memory) {
        return serviceURIs[_addr];
    }
}
