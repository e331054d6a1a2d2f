// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Manager} from "./Manager.sol";

/// @title TicketBroker: probabilistic micropayments. Senders fund a deposit and a reserve; recipients
/// redeem winning tickets against them.
/// @notice Every check of `redeemWinningTicket` runs in the deployed order with the deployed revert
/// strings, and events come in the deployed order, because nodes classify failures by those strings
/// and watchers replay balances from those events. The broker holds no ETH: funding goes to the Minter.
contract TicketBroker is Manager {
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 senderNonce;
        bytes32 recipientRandHash;
        bytes auxData;
    }

    struct Sender {
        uint256 deposit;
        uint256 withdrawRound;
    }

    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    // A reserve is split evenly, per round, between the active transcoders: each may claim up to
    // (funds + already claimed this round) / poolSize minus what it claimed itself this round.
    struct Reserve {
        uint256 funds;
        mapping(uint256 => uint256) claimedForRound;
        mapping(uint256 => mapping(address => uint256)) claimedByAddress;
    }

    // secp256k1n / 2: signatures with a larger s are malleable and refused, as OpenZeppelin's ECDSA does.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    uint256 public unlockPeriod;
    uint256 public ticketValidityPeriod;

    mapping(address => Sender) internal senders;
    mapping(address => Reserve) internal reserves;
    mapping(bytes32 => bool) public usedTickets;

    event DepositFunded(address indexed sender, uint256 amount);
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);

    constructor(address _controller) Manager(_controller) {}

    function setUnlockPeriod(uint256 _unlockPeriod) external onlyControllerOwner {
        unlockPeriod = _unlockPeriod;
        emit ParameterUpdate("unlockPeriod");
    }

    function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external onlyControllerOwner {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = _ticketValidityPeriod;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    // ---- funding ----
    // Event order matters to watchers: [UnlockCancelled], ReserveFunded, then DepositFunded last.

    function fundDeposit() external payable whenSystemNotPaused {
        _addDeposit(msg.sender, msg.value);
        _forwardToMinter(msg.value);
        emit DepositFunded(msg.sender, msg.value);
    }

    function fundReserve() external payable whenSystemNotPaused {
        _addReserve(msg.sender, msg.value);
        _forwardToMinter(msg.value);
    }

    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    /// @notice Funds someone else's deposit and reserve; only the sender's own funding cancels its unlock.
    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount)
        public
        payable
        whenSystemNotPaused
    {
        require(
            msg.value == _depositAmount + _reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        _addDeposit(_addr, _depositAmount);
        _addReserve(_addr, _reserveAmount);
        _forwardToMinter(msg.value);
        emit DepositFunded(_addr, _depositAmount);
    }

    // ---- redemption ----

    /// @notice Pays a winning ticket: from the deposit first, then from the recipient's share of the reserve.
    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand)
        public
        whenSystemNotPaused
        whenRoundInitialized
    {
        bytes32 ticketHash = getTicketHash(_ticket);
        requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand);

        Sender storage sender = senders[_ticket.sender];
        require(isLocked(sender), "sender is unlocked");
        require(sender.deposit > 0 || reserves[_ticket.sender].funds > 0, "sender deposit and reserve are zero");

        usedTickets[ticketHash] = true;

        uint256 amountToTransfer;
        if (_ticket.faceValue > sender.deposit) {
            amountToTransfer =
                sender.deposit + claimFromReserve(_ticket.sender, _ticket.recipient, _ticket.faceValue - sender.deposit);
            sender.deposit = 0;
        } else {
            amountToTransfer = _ticket.faceValue;
            sender.deposit -= _ticket.faceValue;
        }

        if (amountToTransfer > 0) {
            (uint256 creationRound,) = getCreationRoundAndBlockHash(_ticket.auxData);
            // Reverts ("transcoder must be registered") when the recipient is not an orchestrator,
            // which undoes the whole redemption.
            bondingManager().updateTranscoderWithFees(_ticket.recipient, amountToTransfer, creationRound);
            emit WinningTicketTransfer(_ticket.sender, _ticket.recipient, amountToTransfer);
        }

        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );
    }

    // ---- unlock and withdrawal ----

    /// @notice Starts the wait after which the sender may withdraw; tickets stop being redeemable then.
    function unlock() public whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        require(sender.deposit > 0 || reserves[msg.sender].funds > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound == 0, "unlock already initiated");
        uint256 currentRound = roundsManager().currentRound();
        sender.withdrawRound = currentRound + unlockPeriod;
        emit Unlock(msg.sender, currentRound, sender.withdrawRound);
    }

    function cancelUnlock() public whenSystemNotPaused {
        _cancelUnlock(senders[msg.sender], msg.sender);
    }

    function withdraw() public whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[msg.sender].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound > 0, "no unlock request in progress");
        require(!isLocked(sender), "account is locked");

        sender.deposit = 0;
        // Only the funds are cleared; per-round claim records of past rounds are never read again.
        reserves[msg.sender].funds = 0;

        minter().trustedWithdrawETH(payable(msg.sender), deposit + reserve);
        emit Withdrawal(msg.sender, deposit, reserve);
    }

    // ---- views ----

    function isUnlockInProgress(address _sender) public view returns (bool) {
        return senders[_sender].withdrawRound > 0;
    }

    function getSenderInfo(address _sender) public view returns (Sender memory sender, ReserveInfo memory reserve) {
        sender = senders[_sender];
        reserve = getReserveInfo(_sender);
    }

    function getReserveInfo(address _reserveHolder) public view returns (ReserveInfo memory info) {
        Reserve storage r = reserves[_reserveHolder];
        info.fundsRemaining = r.funds;
        info.claimedInCurrentRound = r.claimedForRound[roundsManager().currentRound()];
    }

    /// @notice What `_claimant` may still take from the reserve this round: nothing unless it is an active transcoder.
    function claimableReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        if (!bondingManager().isActiveTranscoder(_claimant)) {
            return 0;
        }
        uint256 poolSize = bondingManager().getTranscoderPoolSize();
        if (poolSize == 0) {
            return 0;
        }
        Reserve storage r = reserves[_reserveHolder];
        uint256 currentRound = roundsManager().currentRound();
        uint256 totalClaimable = r.funds + r.claimedForRound[currentRound];
        return totalClaimable / poolSize - r.claimedByAddress[currentRound][_claimant];
    }

    function claimedReserve(address _reserveHolder, address _claimant) public view returns (uint256) {
        return reserves[_reserveHolder].claimedByAddress[roundsManager().currentRound()][_claimant];
    }

    /// @notice keccak256 of the tightly packed ticket fields; senders sign this hash (EIP-191).
    function getTicketHash(Ticket memory _ticket) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    // ---- internals ----

    function _addDeposit(address _sender, uint256 _amount) internal {
        Sender storage sender = senders[_sender];
        sender.deposit += _amount;
        if (msg.sender == _sender && sender.withdrawRound > 0) {
            _cancelUnlock(sender, _sender);
        }
    }

    function _addReserve(address _holder, uint256 _amount) internal {
        reserves[_holder].funds += _amount;
        emit ReserveFunded(_holder, _amount);
        Sender storage sender = senders[_holder];
        if (msg.sender == _holder && sender.withdrawRound > 0) {
            _cancelUnlock(sender, _holder);
        }
    }

    function _forwardToMinter(uint256 _amount) internal {
        minter().depositETH{value: _amount}();
    }

    function _cancelUnlock(Sender storage _sender, address _senderAddress) internal {
        require(_sender.withdrawRound > 0, "no unlock request in progress");
        _sender.withdrawRound = 0;
        emit UnlockCancelled(_senderAddress);
    }

    function isLocked(Sender storage _sender) internal view returns (bool) {
        return _sender.withdrawRound == 0 || roundsManager().currentRound() < _sender.withdrawRound;
    }

    function claimFromReserve(address _reserveHolder, address _claimant, uint256 _amount) internal returns (uint256) {
        uint256 claimable = claimableReserve(_reserveHolder, _claimant);
        uint256 claimAmount = _amount > claimable ? claimable : _amount;
        if (claimAmount > 0) {
            uint256 currentRound = roundsManager().currentRound();
            Reserve storage r = reserves[_reserveHolder];
            r.claimedForRound[currentRound] += claimAmount;
            r.claimedByAddress[currentRound][_claimant] += claimAmount;
            r.funds -= claimAmount;
            emit ReserveClaimed(_reserveHolder, _claimant, claimAmount);
        }
        return claimAmount;
    }

    /// @dev The deployed order of checks; each message is the deployed one.
    function requireValidWinningTicket(
        Ticket memory _ticket,
        bytes32 _ticketHash,
        bytes memory _sig,
        uint256 _recipientRand
    ) internal view {
        require(_ticket.recipient != address(0), "ticket recipient is null address");
        require(_ticket.sender != address(0), "ticket sender is null address");
        requireValidTicketAuxData(_ticket.auxData);
        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[_ticketHash], "ticket is used");
        require(isValidTicketSig(_ticket.sender, _sig, _ticketHash), "invalid signature over ticket hash");
        require(uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _ticket.winProb, "ticket did not win");
    }

    /// @dev A ticket commits to a round and that round's block hash; it is valid for `ticketValidityPeriod` rounds.
    function requireValidTicketAuxData(bytes memory _auxData) internal view {
        (uint256 creationRound, bytes32 creationRoundBlockHash) = getCreationRoundAndBlockHash(_auxData);
        bytes32 blockHash = roundsManager().blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        require(creationRound + ticketValidityPeriod > roundsManager().currentRound(), "ticket is expired");
    }

    function getCreationRoundAndBlockHash(bytes memory _auxData)
        internal
        pure
        returns (uint256 creationRound, bytes32 creationRoundBlockHash)
    {
        require(_auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        assembly {
            creationRound := mload(add(_auxData, 32))
            creationRoundBlockHash := mload(add(_auxData, 64))
        }
    }

    /// @dev EIP-191 over the 32-byte hash, 65-byte r||s||v with v 27/28 and low s, with the revert
    /// strings of the OpenZeppelin ECDSA version the deployed broker embeds.
    function isValidTicketSig(address _sender, bytes memory _sig, bytes32 _ticketHash) internal pure returns (bool) {
        require(_sig.length == 65, "INVALID_SIGNATURE_LENGTH");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(_sig, 32))
            s := mload(add(_sig, 64))
            v := byte(0, mload(add(_sig, 96)))
        }
        require(uint256(s) <= HALF_CURVE_ORDER, "ECDSA: invalid signature 's' value");
        require(v == 27 || v == 28, "ECDSA: invalid signature 'v' value");
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", _ticketHash));
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ECDSA: invalid signature");
        return signer == _sender;
    }
}
