// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ILivepeerToken} from "./Interfaces.sol";

/// @title LivepeerTokenFaucet: hands out a fixed amount of devnet LPT, at most once per wait period.
/// @notice `requestWait` is in hours, as in the deployed faucet; whitelisted addresses skip the wait.
contract LivepeerTokenFaucet {
    address public owner;
    ILivepeerToken public token;
    uint256 public requestAmount;
    uint256 public requestWait;

    mapping(address => uint256) public nextValidRequest;
    mapping(address => bool) public isWhitelisted;

    event Request(address indexed to, uint256 amount);

    modifier onlyOwner() {
        require(msg.sender == owner);
        _;
    }

    constructor(address _token, uint256 _requestAmount, uint256 _requestWait) {
        owner = msg.sender;
        token = ILivepeerToken(_token);
        requestAmount = _requestAmount;
        requestWait = _requestWait;
    }

    function addToWhitelist(address _addr) external onlyOwner {
        isWhitelisted[_addr] = true;
    }

    function removeFromWhitelist(address _addr) external onlyOwner {
        isWhitelisted[_addr] = false;
    }

    /// @notice Sends `requestAmount` LPT to the caller; reverts (no reason, like the deployed faucet) when too early.
    function request() external {
        require(isWhitelisted[msg.sender] || block.timestamp >= nextValidRequest[msg.sender]);
        if (!isWhitelisted[msg.sender]) {
            nextValidRequest[msg.sender] = block.timestamp + requestWait * 1 hours;
        }
        token.transfer(msg.sender, requestAmount);
        emit Request(msg.sender, requestAmount);
    }
}
