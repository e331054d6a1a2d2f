// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Controller: the devnet registry the other contracts and go-livepeer resolve addresses through.
/// @notice Same external surface as the deployed Livepeer Controller (getContract, setContractInfo, pause).
/// It starts paused, as the deployed one does, so a half-configured devnet cannot be used by accident.
contract Controller {
    struct ContractInfo {
        address contractAddress;
        bytes20 gitCommitHash;
    }

    address public owner;
    bool public paused;

    mapping(bytes32 => ContractInfo) private registry;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);
    event Pause();
    event Unpause();

    modifier onlyOwner() {
        require(msg.sender == owner);
        _;
    }

    constructor() {
        owner = msg.sender;
        paused = true;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// @notice Registers (or replaces) the contract known by `_id` = keccak256(name).
    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external onlyOwner {
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    /// @notice Unknown ids give the zero address instead of reverting, like the deployed Controller.
    function getContract(bytes32 _id) public view returns (address) {
        return registry[_id].contractAddress;
    }

    function getContractInfo(bytes32 _id) public view returns (address, bytes20) {
        ContractInfo storage info = registry[_id];
        return (info.contractAddress, info.gitCommitHash);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0));
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function pause() external onlyOwner {
        require(!paused);
        paused = true;
        emit Pause();
    }

    function unpause() external onlyOwner {
        require(paused);
        paused = false;
        emit Unpause();
    }
}
