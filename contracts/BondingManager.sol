// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Manager} from "./Manager.sol";
import {SortedList} from "./SortedList.sol";

/// @title BondingManager: LPT staking, the transcoder (orchestrator) pool, rewards and fees.
/// @notice External behaviour follows the deployed BondingManager: stake changes take effect next round,
/// a registered transcoder is one bonded to itself, the pool keeps the top `numActiveTranscoders` by
/// stake, earnings are shared through per-round cumulative reward and fee factors (LIP-36) so any
/// delegator's pending stake and fees can be computed without touching the others.
/// Left out because no node reads them: the treasury cut, BondingVotes checkpoints, transferBond,
/// slashing and the L2 migrator.
contract BondingManager is Manager {
    using SortedList for SortedList.Data;

    // Percentages (rewardCut, feeShare) are parts per million.
    uint256 private constant PERC_DIVISOR = 1000000;
    // Cumulative factors are fixed point with 27 decimals; 0 stored means "1.0" (never updated).
    uint256 private constant PRECISE_ONE = 1e27;
    // deactivationRound of a transcoder that has not left the pool.
    uint256 private constant MAX_FUTURE_ROUND = 2 ** 256 - 1;

    struct EarningsPool {
        uint256 totalStake;
        uint256 transcoderRewardCut;
        uint256 transcoderFeeShare;
        uint256 cumulativeRewardFactor;
        uint256 cumulativeFeeFactor;
    }

    struct Transcoder {
        uint256 lastRewardRound;
        uint256 rewardCut;
        uint256 feeShare;
        uint256 lastActiveStakeUpdateRound; // pool[this].totalStake is the active stake from this round on
        uint256 activationRound;
        uint256 deactivationRound;
        uint256 activeCumulativeRewards; // unclaimed commission that was part of the current round's stake
        uint256 cumulativeRewards; // unclaimed reward commission
        uint256 cumulativeFees; // unclaimed fee commission
        uint256 lastFeeRound;
        uint256 rewardFactorBeforeLastReward; // see rewardFactorBefore()
        mapping(uint256 => EarningsPool) earningsPoolPerRound;
    }

    struct UnbondingLock {
        uint256 amount;
        uint256 withdrawRound;
    }

    struct Delegator {
        uint256 bondedAmount;
        uint256 fees;
        address delegateAddress;
        uint256 delegatedAmount; // stake delegated to this address (its total stake if it is a transcoder)
        uint256 startRound;
        uint256 lastClaimRound;
        uint256 nextUnbondingLockId;
        mapping(uint256 => UnbondingLock) unbondingLocks;
    }

    enum DelegatorStatus {
        Pending,
        Bonded,
        Unbonded
    }

    enum TranscoderStatus {
        NotRegistered,
        Registered
    }

    uint64 public unbondingPeriod;
    uint256 public currentRoundTotalActiveStake;
    uint256 public nextRoundTotalActiveStake;

    mapping(address => Delegator) private delegators;
    mapping(address => Transcoder) private transcoders;
    SortedList.Data private transcoderPool;

    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);
    event Reward(address indexed transcoder, uint256 amount);
    event Bond(
        address indexed newDelegate,
        address indexed oldDelegate,
        address indexed delegator,
        uint256 additionalAmount,
        uint256 bondedAmount
    );
    event Unbond(
        address indexed delegate,
        address indexed delegator,
        uint256 unbondingLockId,
        uint256 amount,
        uint256 withdrawRound
    );
    event Rebond(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount);
    event WithdrawStake(address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
    event WithdrawFees(address indexed delegator, address recipient, uint256 amount);
    event EarningsClaimed(
        address indexed delegate,
        address indexed delegator,
        uint256 rewards,
        uint256 fees,
        uint256 startRound,
        uint256 endRound
    );

    modifier onlyTicketBroker() {
        require(msg.sender == lookup("TicketBroker"), "caller must be TicketBroker");
        _;
    }

    modifier onlyRoundsManager() {
        require(msg.sender == lookup("RoundsManager"), "caller must be RoundsManager");
        _;
    }

    // Folds pending earnings into the delegator's stake before any change to it.
    modifier autoClaimEarnings(address _delegator) {
        claimEarningsUpTo(_delegator, roundsManager().currentRound());
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    // ---- parameters ----

    function setUnbondingPeriod(uint64 _unbondingPeriod) external onlyControllerOwner {
        unbondingPeriod = _unbondingPeriod;
        emit ParameterUpdate("unbondingPeriod");
    }

    function setNumActiveTranscoders(uint256 _numActiveTranscoders) external onlyControllerOwner {
        require(_numActiveTranscoders >= transcoderPool.size, "new limit cannot be less than current size");
        transcoderPool.maxSize = _numActiveTranscoders;
        emit ParameterUpdate("numActiveTranscoders");
    }

    // ---- transcoders ----

    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        transcoderWithHint(_rewardCut, _feeShare, address(0), address(0));
    }

    /// @notice Sets the caller's commission; a registered transcoder outside the pool also tries to join it.
    function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        whenRoundInitialized
    {
        require(!roundsManager().currentRoundLocked(), "can't update transcoder params, current round is locked");
        require(_rewardCut <= PERC_DIVISOR, "invalid rewardCut percentage");
        require(_feeShare <= PERC_DIVISOR, "invalid feeShare percentage");
        require(isRegisteredTranscoder(msg.sender), "transcoder must be registered");

        Transcoder storage t = transcoders[msg.sender];
        uint256 currentRound = roundsManager().currentRound();
        // Changing terms mid-round would let an active transcoder change how this round's reward is split.
        require(
            !isActiveTranscoder(msg.sender) || t.lastRewardRound == currentRound,
            "caller can't be active or must have already called reward for the current round"
        );

        t.rewardCut = _rewardCut;
        t.feeShare = _feeShare;

        if (!transcoderPool.contains(msg.sender)) {
            tryToJoinActiveSet(
                msg.sender, delegators[msg.sender].delegatedAmount, currentRound + 1, _newPosPrev, _newPosNext
            );
        }

        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    // ---- bonding ----

    function bond(uint256 _amount, address _to) external {
        bondWithHint(_amount, _to, address(0), address(0), address(0), address(0));
    }

    /// @notice Bonds `_amount` more LPT (moved from the caller to the Minter) and/or moves the whole bond to `_to`.
    function bondWithHint(
        uint256 _amount,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) public whenSystemNotPaused whenRoundInitialized autoClaimEarnings(msg.sender) {
        Delegator storage del = delegators[msg.sender];
        uint256 currentRound = roundsManager().currentRound();
        uint256 delegationAmount = _amount;
        address currentDelegate = del.delegateAddress;

        if (delegatorStatus(msg.sender) == DelegatorStatus.Unbonded) {
            // A fresh bond starts earning next round.
            del.startRound = currentRound + 1;
        } else if (currentDelegate != address(0) && currentDelegate != _to) {
            require(!isRegisteredTranscoder(msg.sender), "registered transcoders can't delegate towards other addresses");
            // Moving the bond: it counts for the new delegate from next round.
            del.startRound = currentRound + 1;
            delegationAmount += del.bondedAmount;
            decreaseTotalStake(currentDelegate, del.bondedAmount, _oldDelegateNewPosPrev, _oldDelegateNewPosNext);
        }

        ensureCumulativeFactors(_to, currentRound);
        require(delegationAmount > 0, "delegation amount must be greater than 0");

        del.delegateAddress = _to;
        del.bondedAmount += _amount;
        increaseTotalStake(_to, delegationAmount, _currDelegateNewPosPrev, _currDelegateNewPosNext);

        if (_amount > 0) {
            livepeerToken().transferFrom(msg.sender, address(minter()), _amount);
        }

        emit Bond(_to, currentDelegate, msg.sender, _amount, del.bondedAmount);
    }

    function unbond(uint256 _amount) external {
        unbondWithHint(_amount, address(0), address(0));
    }

    /// @notice Moves `_amount` of bonded stake into a new unbonding lock, withdrawable after `unbondingPeriod` rounds.
    function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        whenRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(delegatorStatus(msg.sender) == DelegatorStatus.Bonded, "caller must be bonded");
        Delegator storage del = delegators[msg.sender];
        require(_amount > 0, "unbond amount must be greater than 0");
        require(_amount <= del.bondedAmount, "amount is greater than bonded amount");

        address currentDelegate = del.delegateAddress;
        uint256 withdrawRound = roundsManager().currentRound() + unbondingPeriod;
        uint256 unbondingLockId = del.nextUnbondingLockId;
        del.unbondingLocks[unbondingLockId] = UnbondingLock({amount: _amount, withdrawRound: withdrawRound});
        del.nextUnbondingLockId = unbondingLockId + 1;
        del.bondedAmount -= _amount;

        if (del.bondedAmount == 0) {
            del.delegateAddress = address(0);
            del.startRound = 0;
            // A transcoder that unbonds everything is no longer registered, so it leaves the pool.
            if (transcoderPool.contains(msg.sender)) {
                resignTranscoder(msg.sender);
            }
        }

        decreaseTotalStake(currentDelegate, _amount, _newPosPrev, _newPosNext);
        emit Unbond(currentDelegate, msg.sender, unbondingLockId, _amount, withdrawRound);
    }

    function rebond(uint256 _unbondingLockId) external {
        rebondWithHint(_unbondingLockId, address(0), address(0));
    }

    /// @notice Returns an unbonding lock's amount to the caller's current delegate.
    function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        whenRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(delegatorStatus(msg.sender) != DelegatorStatus.Unbonded, "caller must be bonded");
        processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext);
    }

    function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external {
        rebondFromUnbondedWithHint(_to, _unbondingLockId, address(0), address(0));
    }

    /// @notice For a fully unbonded delegator: bonds an unbonding lock's amount to `_to`, from next round.
    function rebondFromUnbondedWithHint(address _to, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        whenRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(delegatorStatus(msg.sender) == DelegatorStatus.Unbonded, "caller must be unbonded");
        Delegator storage del = delegators[msg.sender];
        del.startRound = roundsManager().currentRound() + 1;
        del.delegateAddress = _to;
        ensureCumulativeFactors(_to, roundsManager().currentRound());
        processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext);
    }

    function withdrawStake(uint256 _unbondingLockId) external whenSystemNotPaused whenRoundInitialized {
        Delegator storage del = delegators[msg.sender];
        UnbondingLock storage lock = del.unbondingLocks[_unbondingLockId];
        require(isValidUnbondingLock(msg.sender, _unbondingLockId), "invalid unbonding lock ID");
        require(
            lock.withdrawRound <= roundsManager().currentRound(),
            "withdraw round must be before or equal to the current round"
        );
        uint256 amount = lock.amount;
        uint256 withdrawRound = lock.withdrawRound;
        delete del.unbondingLocks[_unbondingLockId];
        minter().trustedTransferTokens(msg.sender, amount);
        emit WithdrawStake(msg.sender, _unbondingLockId, amount, withdrawRound);
    }

    /// @notice Pays out earned ETH fees (held by the Minter).
    function withdrawFees(address payable _recipient, uint256 _amount)
        external
        whenSystemNotPaused
        whenRoundInitialized
        autoClaimEarnings(msg.sender)
    {
        require(_recipient != address(0), "invalid recipient");
        uint256 fees = delegators[msg.sender].fees;
        require(fees >= _amount, "insufficient fees to withdraw");
        delegators[msg.sender].fees = fees - _amount;
        minter().trustedWithdrawETH(_recipient, _amount);
        emit WithdrawFees(msg.sender, _recipient, _amount);
    }

    /// @notice Folds pending rewards and fees into the caller's bonded amount and fees (always up to the current round).
    function claimEarnings(uint256 _endRound) external whenSystemNotPaused whenRoundInitialized {
        _endRound; // kept for ABI compatibility: the deployed contract also claims up to the current round
        claimEarningsUpTo(msg.sender, roundsManager().currentRound());
    }

    // ---- rewards and fees ----

    function reward() external {
        rewardWithHint(address(0), address(0));
    }

    /// @notice Mints the caller's share of this round's rewards (once per round, active transcoders only)
    /// and adds it to its stake.
    function rewardWithHint(address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        whenRoundInitialized
    {
        uint256 currentRound = roundsManager().currentRound();
        require(isActiveTranscoder(msg.sender), "caller must be an active transcoder");
        Transcoder storage t = transcoders[msg.sender];
        require(t.lastRewardRound != currentRound, "caller has already called reward for the current round");

        EarningsPool storage pool = t.earningsPoolPerRound[currentRound];
        pool.transcoderRewardCut = t.rewardCut;
        pool.transcoderFeeShare = t.feeShare;
        syncActiveStake(t, currentRound);

        uint256 rewardTokens = minter().createReward(pool.totalStake, currentRoundTotalActiveStake);
        updateTranscoderWithRewards(msg.sender, rewardTokens, currentRound, _newPosPrev, _newPosNext);
        t.lastRewardRound = currentRound;

        emit Reward(msg.sender, rewardTokens);
    }

    /// @notice Books a redeemed ticket's value to the transcoder's earnings in the current round (LIP-36:
    /// not the ticket's creation round, which is ignored).
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256 _round)
        external
        whenSystemNotPaused
        onlyTicketBroker
    {
        _round;
        require(isRegisteredTranscoder(_transcoder), "transcoder must be registered");

        uint256 currentRound = roundsManager().currentRound();
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[currentRound];

        uint256 activeCumulativeRewards = t.activeCumulativeRewards;
        if (currentRound > t.lastRewardRound) {
            // reward() has not run this round, so the pool's terms and stake are not set yet.
            pool.transcoderRewardCut = t.rewardCut;
            pool.transcoderFeeShare = t.feeShare;
            syncActiveStake(t, currentRound);
            activeCumulativeRewards = t.cumulativeRewards;
        }

        uint256 prevRewardFactor = rewardFactorBefore(t, currentRound);
        uint256 delegatorsFees = (_fees * pool.transcoderFeeShare) / PERC_DIVISOR;
        uint256 transcoderCommissionFees = _fees - delegatorsFees;
        uint256 totalStake = pool.totalStake;

        if (totalStake == 0) {
            // Nobody's stake is active this round: the transcoder keeps it all.
            t.cumulativeFees += _fees;
        } else {
            // The unclaimed commission is stake of the transcoder alone, so its share of the delegators'
            // fees goes straight to the transcoder instead of through the factor.
            uint256 transcoderRewardStakeFees = (delegatorsFees * activeCumulativeRewards) / totalStake;
            t.cumulativeFees += transcoderRewardStakeFees + transcoderCommissionFees;
            uint256 baseFeeFactor =
                t.lastFeeRound == currentRound ? pool.cumulativeFeeFactor : feeFactorBefore(t, currentRound);
            pool.cumulativeFeeFactor = baseFeeFactor + (prevRewardFactor * delegatorsFees) / totalStake;
        }
        t.lastFeeRound = currentRound;
    }

    function setCurrentRoundTotalActiveStake() external onlyRoundsManager {
        currentRoundTotalActiveStake = nextRoundTotalActiveStake;
    }

    // ---- views ----

    /// @notice Bonded stake including unclaimed rewards up to the current round (`_endRound` is ignored, as deployed).
    function pendingStake(address _delegator, uint256 _endRound) public view returns (uint256) {
        _endRound;
        (uint256 stake,) = pendingStakeAndFees(_delegator, roundsManager().currentRound());
        return stake;
    }

    /// @notice Fees including unclaimed ones up to the current round (`_endRound` is ignored, as deployed).
    function pendingFees(address _delegator, uint256 _endRound) public view returns (uint256) {
        _endRound;
        (, uint256 fees) = pendingStakeAndFees(_delegator, roundsManager().currentRound());
        return fees;
    }

    function transcoderTotalStake(address _transcoder) public view returns (uint256) {
        return delegators[_transcoder].delegatedAmount;
    }

    function transcoderStatus(address _transcoder) public view returns (TranscoderStatus) {
        return isRegisteredTranscoder(_transcoder) ? TranscoderStatus.Registered : TranscoderStatus.NotRegistered;
    }

    function delegatorStatus(address _delegator) public view returns (DelegatorStatus) {
        Delegator storage del = delegators[_delegator];
        if (del.bondedAmount == 0) return DelegatorStatus.Unbonded;
        if (del.startRound > roundsManager().currentRound()) return DelegatorStatus.Pending;
        return DelegatorStatus.Bonded;
    }

    function getTranscoder(address _transcoder)
        public
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 lastActiveStakeUpdateRound,
            uint256 activationRound,
            uint256 deactivationRound,
            uint256 activeCumulativeRewards,
            uint256 cumulativeRewards,
            uint256 cumulativeFees,
            uint256 lastFeeRound
        )
    {
        Transcoder storage t = transcoders[_transcoder];
        return (
            t.lastRewardRound,
            t.rewardCut,
            t.feeShare,
            t.lastActiveStakeUpdateRound,
            t.activationRound,
            t.deactivationRound,
            t.activeCumulativeRewards,
            t.cumulativeRewards,
            t.cumulativeFees,
            t.lastFeeRound
        );
    }

    function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round)
        public
        view
        returns (
            uint256 totalStake,
            uint256 transcoderRewardCut,
            uint256 transcoderFeeShare,
            uint256 cumulativeRewardFactor,
            uint256 cumulativeFeeFactor
        )
    {
        EarningsPool storage pool = transcoders[_transcoder].earningsPoolPerRound[_round];
        return (
            pool.totalStake,
            pool.transcoderRewardCut,
            pool.transcoderFeeShare,
            pool.cumulativeRewardFactor,
            pool.cumulativeFeeFactor
        );
    }

    function getDelegator(address _delegator)
        public
        view
        returns (
            uint256 bondedAmount,
            uint256 fees,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 startRound,
            uint256 lastClaimRound,
            uint256 nextUnbondingLockId
        )
    {
        Delegator storage del = delegators[_delegator];
        return (
            del.bondedAmount,
            del.fees,
            del.delegateAddress,
            del.delegatedAmount,
            del.startRound,
            del.lastClaimRound,
            del.nextUnbondingLockId
        );
    }

    function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId)
        public
        view
        returns (uint256 amount, uint256 withdrawRound)
    {
        UnbondingLock storage lock = delegators[_delegator].unbondingLocks[_unbondingLockId];
        return (lock.amount, lock.withdrawRound);
    }

    function getTranscoderPoolMaxSize() public view returns (uint256) {
        return transcoderPool.maxSize;
    }

    function getTranscoderPoolSize() public view returns (uint256) {
        return transcoderPool.size;
    }

    function getFirstTranscoderInPool() public view returns (address) {
        return transcoderPool.head;
    }

    function getNextTranscoderInPool(address _transcoder) public view returns (address) {
        return transcoderPool.getNext(_transcoder);
    }

    /// @notice The active stake of the current round (the pool's stake snapshotted by initializeRound).
    function getTotalBonded() public view returns (uint256) {
        return currentRoundTotalActiveStake;
    }

    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        Transcoder storage t = transcoders[_transcoder];
        uint256 currentRound = roundsManager().currentRound();
        return t.activationRound <= currentRound && currentRound < t.deactivationRound;
    }

    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        Delegator storage d = delegators[_transcoder];
        return d.delegateAddress == _transcoder && d.bondedAmount > 0;
    }

    function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) public view returns (bool) {
        return delegators[_delegator].unbondingLocks[_unbondingLockId].withdrawRound > 0;
    }

    // ---- internals: stake and the pool ----

    function increaseTotalStake(address _delegate, uint256 _amount, address _newPosPrev, address _newPosNext)
        internal
    {
        uint256 currStake = transcoderTotalStake(_delegate);
        uint256 newStake = currStake + _amount;
        if (isRegisteredTranscoder(_delegate)) {
            uint256 currRound = roundsManager().currentRound();
            if (transcoderPool.contains(_delegate)) {
                transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
                nextRoundTotalActiveStake += _amount;
                recordNextRoundStake(transcoders[_delegate], currRound, currStake, newStake);
            } else {
                tryToJoinActiveSet(_delegate, newStake, currRound + 1, _newPosPrev, _newPosNext);
            }
        }
        delegators[_delegate].delegatedAmount = newStake;
    }

    function decreaseTotalStake(address _delegate, uint256 _amount, address _newPosPrev, address _newPosNext)
        internal
    {
        uint256 currStake = transcoderTotalStake(_delegate);
        uint256 newStake = currStake - _amount;
        if (transcoderPool.contains(_delegate)) {
            uint256 currRound = roundsManager().currentRound();
            transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
            nextRoundTotalActiveStake -= _amount;
            recordNextRoundStake(transcoders[_delegate], currRound, currStake, newStake);
        }
        delegators[_delegate].delegatedAmount = newStake;
    }

    /// @dev A stake change counts from next round; this round keeps the stake it started with.
    function recordNextRoundStake(Transcoder storage t, uint256 _currRound, uint256 _currStake, uint256 _newStake)
        internal
    {
        if (t.lastActiveStakeUpdateRound < _currRound) {
            t.earningsPoolPerRound[_currRound].totalStake = _currStake;
        }
        t.earningsPoolPerRound[_currRound + 1].totalStake = _newStake;
        t.lastActiveStakeUpdateRound = _currRound + 1;
    }

    /// @dev Joins the pool for `_activationRound`, evicting the smallest member when full and `_totalStake` beats it.
    function tryToJoinActiveSet(
        address _transcoder,
        uint256 _totalStake,
        uint256 _activationRound,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        uint256 pendingNextRoundTotalActiveStake = nextRoundTotalActiveStake;
        if (transcoderPool.isFull()) {
            address lastTranscoder = transcoderPool.tail;
            uint256 lastStake = transcoderTotalStake(lastTranscoder);
            if (_totalStake <= lastStake) {
                return;
            }
            transcoderPool.remove(lastTranscoder);
            transcoders[lastTranscoder].deactivationRound = _activationRound;
            pendingNextRoundTotalActiveStake -= lastStake;
            emit TranscoderDeactivated(lastTranscoder, _activationRound);
        }

        transcoderPool.insert(_transcoder, _totalStake, _newPosPrev, _newPosNext);
        pendingNextRoundTotalActiveStake += _totalStake;
        Transcoder storage t = transcoders[_transcoder];
        t.lastActiveStakeUpdateRound = _activationRound;
        t.activationRound = _activationRound;
        t.deactivationRound = MAX_FUTURE_ROUND;
        t.earningsPoolPerRound[_activationRound].totalStake = _totalStake;
        nextRoundTotalActiveStake = pendingNextRoundTotalActiveStake;
        emit TranscoderActivated(_transcoder, _activationRound);
    }

    function resignTranscoder(address _transcoder) internal {
        transcoderPool.remove(_transcoder);
        nextRoundTotalActiveStake -= transcoderTotalStake(_transcoder);
        uint256 deactivationRound = roundsManager().currentRound() + 1;
        transcoders[_transcoder].deactivationRound = deactivationRound;
        emit TranscoderDeactivated(_transcoder, deactivationRound);
    }

    function processRebond(address _delegator, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        internal
    {
        Delegator storage del = delegators[_delegator];
        require(isValidUnbondingLock(_delegator, _unbondingLockId), "invalid unbonding lock ID");
        uint256 amount = del.unbondingLocks[_unbondingLockId].amount;
        del.bondedAmount += amount;
        delete del.unbondingLocks[_unbondingLockId];
        address delegate = del.delegateAddress;
        increaseTotalStake(delegate, amount, _newPosPrev, _newPosNext);
        emit Rebond(delegate, _delegator, _unbondingLockId, amount);
    }

    // ---- internals: earnings ----

    /// @dev Copies the stake from the last round it changed into this round's pool, if it was not set.
    function syncActiveStake(Transcoder storage t, uint256 _round) internal {
        uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
        if (lastUpdateRound < _round) {
            t.earningsPoolPerRound[_round].totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;
        }
    }

    function updateTranscoderWithRewards(
        address _transcoder,
        uint256 _rewards,
        uint256 _round,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        uint256 prevRewardFactor = rewardFactorBefore(t, _round);
        t.rewardFactorBeforeLastReward = prevRewardFactor;

        // Commission earned in earlier rounds is part of this round's stake but belongs to the transcoder alone.
        t.activeCumulativeRewards = t.cumulativeRewards;

        uint256 transcoderCommissionRewards = (_rewards * pool.transcoderRewardCut) / PERC_DIVISOR;
        uint256 delegatorsRewards = _rewards - transcoderCommissionRewards;
        uint256 totalStake = pool.totalStake;
        uint256 transcoderRewardStakeRewards =
            totalStake == 0 ? 0 : (delegatorsRewards * t.activeCumulativeRewards) / totalStake;
        t.cumulativeRewards += transcoderRewardStakeRewards + transcoderCommissionRewards;

        // Delegators' stake is totalStake minus that commission, so growing it by delegatorsRewards / totalStake
        // hands them exactly delegatorsRewards - transcoderRewardStakeRewards.
        pool.cumulativeRewardFactor =
            totalStake == 0 ? prevRewardFactor : prevRewardFactor + (prevRewardFactor * delegatorsRewards) / totalStake;
        if (t.lastFeeRound < _round && pool.cumulativeFeeFactor == 0) {
            pool.cumulativeFeeFactor = feeFactorBefore(t, _round);
        }

        increaseTotalStake(_transcoder, _rewards, _newPosPrev, _newPosNext);
    }

    /// @dev The cumulative reward factor in force before `_round` (1.0 when never set). The factor of the
    /// last reward round is kept aside so that fees booked after reward() in the same round still see the
    /// stake the round started with, exactly (the deployed contract approximates it in that case).
    function rewardFactorBefore(Transcoder storage t, uint256 _round) internal view returns (uint256 rewardFactor) {
        rewardFactor = t.lastRewardRound < _round
            ? t.earningsPoolPerRound[t.lastRewardRound].cumulativeRewardFactor
            : t.rewardFactorBeforeLastReward;
        if (rewardFactor == 0) rewardFactor = PRECISE_ONE;
    }

    /// @dev The cumulative fee factor in force before `_round`, for a round with no fees booked yet.
    function feeFactorBefore(Transcoder storage t, uint256 _round) internal view returns (uint256) {
        return t.lastFeeRound < _round ? t.earningsPoolPerRound[t.lastFeeRound].cumulativeFeeFactor : 0;
    }

    /// @dev The cumulative factors as of `_round` (after any update made in it).
    function factorsAt(Transcoder storage t, uint256 _round)
        internal
        view
        returns (uint256 rewardFactor, uint256 feeFactor)
    {
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        rewardFactor = pool.cumulativeRewardFactor;
        feeFactor = pool.cumulativeFeeFactor;
        if (rewardFactor == 0 && t.lastRewardRound < _round) {
            rewardFactor = t.earningsPoolPerRound[t.lastRewardRound].cumulativeRewardFactor;
        }
        if (feeFactor == 0 && t.lastFeeRound < _round) {
            feeFactor = t.earningsPoolPerRound[t.lastFeeRound].cumulativeFeeFactor;
        }
        if (rewardFactor == 0) rewardFactor = PRECISE_ONE;
    }

    /// @dev Stores the factors as of `_round` in that round's pool so a claim made now has a fixed start point.
    function ensureCumulativeFactors(address _transcoder, uint256 _round) internal {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        (uint256 rewardFactor, uint256 feeFactor) = factorsAt(t, _round);
        if (pool.cumulativeRewardFactor == 0) pool.cumulativeRewardFactor = rewardFactor;
        if (pool.cumulativeFeeFactor == 0) pool.cumulativeFeeFactor = feeFactor;
    }

    function pendingStakeAndFees(address _delegator, uint256 _endRound)
        internal
        view
        returns (uint256 stake, uint256 fees)
    {
        Delegator storage del = delegators[_delegator];
        Transcoder storage t = transcoders[del.delegateAddress];
        stake = del.bondedAmount;
        fees = del.fees;
        if (del.delegateAddress != address(0) && del.lastClaimRound < _endRound) {
            (uint256 startRewardFactor, uint256 startFeeFactor) = factorsAt(t, del.lastClaimRound);
            (uint256 endRewardFactor, uint256 endFeeFactor) = factorsAt(t, _endRound);
            fees += (stake * (endFeeFactor - startFeeFactor)) / startRewardFactor;
            stake = (stake * endRewardFactor) / startRewardFactor;
        }
        if (del.delegateAddress == _delegator) {
            stake += t.cumulativeRewards;
            fees += t.cumulativeFees;
        }
    }

    function claimEarningsUpTo(address _delegator, uint256 _endRound) internal {
        Delegator storage del = delegators[_delegator];
        if (del.lastClaimRound >= _endRound) return;
        uint256 startRound = del.lastClaimRound + 1;
        (uint256 stake, uint256 fees) = pendingStakeAndFees(_delegator, _endRound);
        address delegate = del.delegateAddress;
        if (delegate == _delegator) {
            // The commission is now part of the transcoder's own bond.
            Transcoder storage t = transcoders[_delegator];
            t.cumulativeRewards = 0;
            t.cumulativeFees = 0;
        }
        if (delegate != address(0)) {
            ensureCumulativeFactors(delegate, _endRound);
        }
        // Emitted even with no delegate (all zero), as deployed: the first claim of a new delegator.
        emit EarningsClaimed(delegate, _delegator, stake - del.bondedAmount, fees - del.fees, startRound, _endRound);
        del.bondedAmount = stake;
        del.fees = fees;
        del.lastClaimRound = _endRound;
    }
}
