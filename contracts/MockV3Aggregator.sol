// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

/// @notice A settable Chainlink AggregatorV3 stand-in for tests: lp-node reads description(),
/// decimals() and latestRoundData() from a price feed, and a test moves the answer and its time.
contract MockV3Aggregator {
    uint8 public decimals;
    string public description;
    uint80 public latestRound;
    int256 public latestAnswer;
    uint256 public latestTimestamp;

    constructor(uint8 _decimals, string memory _description, int256 _answer) {
        decimals = _decimals;
        description = _description;
        _set(_answer, block.timestamp);
    }

    /// @notice A new round with this answer, updated now.
    function updateAnswer(int256 _answer) external {
        _set(_answer, block.timestamp);
    }

    /// @notice A new round with this answer and an explicit update time (to test stale or equal times).
    function updateRoundData(int256 _answer, uint256 _updatedAt) external {
        _set(_answer, _updatedAt);
    }

    function setDescription(string calldata _description) external {
        description = _description;
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (latestRound, latestAnswer, latestTimestamp, latestTimestamp, latestRound);
    }

    function _set(int256 _answer, uint256 _updatedAt) private {
        latestRound += 1;
        latestAnswer = _answer;
        latestTimestamp = _updatedAt;
    }
}
