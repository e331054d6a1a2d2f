// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SortedList: addresses kept in descending order of a key (the transcoder pool, by stake).
/// @notice Callers may pass the neighbours a node should sit between (hints, as nodes compute them);
/// a correct hint makes insertion O(1), a wrong or stale one falls back to a walk from the head, so a
/// bad hint costs gas but never fails, as on the deployed contract.
library SortedList {
    struct Node {
        uint256 key;
        address prev;
        address next;
        bool member;
    }

    struct Data {
        address head;
        address tail;
        uint256 size;
        uint256 maxSize;
        mapping(address => Node) nodes;
    }

    function contains(Data storage self, address id) internal view returns (bool) {
        return self.nodes[id].member;
    }

    function isFull(Data storage self) internal view returns (bool) {
        return self.size == self.maxSize;
    }

    function getKey(Data storage self, address id) internal view returns (uint256) {
        return self.nodes[id].key;
    }

    function getNext(Data storage self, address id) internal view returns (address) {
        return self.nodes[id].next;
    }

    function insert(Data storage self, address id, uint256 key, address prevHint, address nextHint) internal {
        require(!isFull(self), "list is full");
        require(!contains(self, id), "node already in list");
        require(id != address(0), "id is null");

        (address prev, address next) = findPosition(self, key, prevHint, nextHint);
        Node storage node = self.nodes[id];
        node.key = key;
        node.prev = prev;
        node.next = next;
        node.member = true;
        if (prev == address(0)) self.head = id;
        else self.nodes[prev].next = id;
        if (next == address(0)) self.tail = id;
        else self.nodes[next].prev = id;
        self.size += 1;
    }

    function remove(Data storage self, address id) internal {
        require(contains(self, id), "node not in list");
        Node storage node = self.nodes[id];
        if (node.prev == address(0)) self.head = node.next;
        else self.nodes[node.prev].next = node.next;
        if (node.next == address(0)) self.tail = node.prev;
        else self.nodes[node.next].prev = node.prev;
        delete self.nodes[id];
        self.size -= 1;
    }

    function updateKey(Data storage self, address id, uint256 newKey, address prevHint, address nextHint) internal {
        remove(self, id);
        if (newKey > 0) insert(self, id, newKey, prevHint, nextHint);
    }

    /// @dev (prev, next) where prev.key >= key >= next.key and the two are adjacent.
    function findPosition(Data storage self, uint256 key, address prevHint, address nextHint)
        private
        view
        returns (address, address)
    {
        if (validPosition(self, key, prevHint, nextHint)) return (prevHint, nextHint);
        // Walk from the head; among equal keys the new node goes last, like a stable sort.
        address prev = address(0);
        address next = self.head;
        while (next != address(0) && self.nodes[next].key >= key) {
            prev = next;
            next = self.nodes[next].next;
        }
        return (prev, next);
    }

    function validPosition(Data storage self, uint256 key, address prev, address next) private view returns (bool) {
        if (prev == address(0) && next == address(0)) return self.size == 0;
        if (prev == address(0)) return self.head == next && key >= self.nodes[next].key;
        if (next == address(0)) return self.tail == prev && key <= self.nodes[prev].key;
        return contains(self, prev) && self.nodes[prev].next == next && self.nodes[prev].key >= key
            && key >= self.nodes[next].key;
    }
}
