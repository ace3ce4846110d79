"""RFC 6962 / RFC 9162 Merkle tree: hashing, tree heads, inclusion and consistency proofs.

Pure: bytes in, bytes out; no I/O. Leaf hashes are kept in flat ``bytearray`` buffers (32 bytes a
node), so a tree of 10 M leaves costs about 36 bytes a leaf and no Python object per node.

Hashing (RFC 6962 §2.1, unchanged in RFC 9162 §2.1.1)::

    MTH({})    = SHA-256()
    MTH({d0})  = SHA-256(0x00 || d0)                             leaf hash
    MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))     k = largest power of 2 < n

Storage. Level 0 holds every leaf hash; levels ``>= cache_from_level`` hold every complete
(perfect-subtree) node. Nodes of the levels in between are recomputed from the leaves on demand
(at most ``2**cache_from_level - 1`` hashes each). Any subtree hash, and hence any root, inclusion or
consistency proof for any size up to the current one, costs O(log n) node look-ups.

Verification follows the algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency),
which are the ones of transparency-dev/merkle ``proof.Verify*``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 leaf hash ``SHA-256(0x00 || data)``."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _hash_pairs(buf: bytes | bytearray | memoryview) -> bytes:
    """Parents of consecutive pairs of 32-byte nodes in ``buf`` (len a multiple of 64)."""
    mv = memoryview(buf)
    sha = _sha256
    prefix = NODE_PREFIX
    return b"".join([sha(prefix + mv[j : j + 64]).digest() for j in range(0, len(mv), 64)])


class MerkleTree:
    """An append-only RFC 6962 Merkle tree over leaf hashes.

    Args:
        leaf_hashes: initial leaf hashes (each 32 bytes).
        cache_from_level: the lowest interior level kept in memory (levels 1 .. this-1 are
            recomputed from the leaves when needed). 1 keeps every node (64 B a leaf); the
            default 4 keeps about 36 B a leaf and costs at most 15 extra hashes per node read.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = (), *, cache_from_level: int = 4) -> None:
        if cache_from_level < 1:
            raise ValueError("cache_from_level must be >= 1")
        self._cache_from = cache_from_level
        # _levels[k] holds the complete nodes of level k (k == 0 or k >= cache_from), else b"".
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    # -- size and leaves -------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def __len__(self) -> int:
        return self.size

    def leaf_hash(self, index: int) -> bytes:
        """The stored hash of leaf ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} out of range for size {self.size}")
        o = index * HASH_SIZE
        return bytes(self._levels[0][o : o + HASH_SIZE])

    def append(self, leaf_hash_: bytes) -> int:
        """Append one leaf hash; returns its index."""
        index = self.size
        self.extend_flat(leaf_hash_)
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes (an iterable of 32-byte values)."""
        hashes = leaf_hashes if isinstance(leaf_hashes, list | tuple) else list(leaf_hashes)
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError("a leaf hash must be 32 bytes")
        if hashes:
            self.extend_flat(b"".join(hashes))

    def extend_flat(self, buf: bytes | bytearray | memoryview) -> None:
        """Append leaf hashes given as one flat buffer of 32-byte values (the fast path)."""
        if len(buf) % HASH_SIZE:
            raise ValueError("a flat leaf-hash buffer must be a multiple of 32 bytes")
        if not len(buf):
            return
        self._levels[0] += buf
        self._rebuild_interior()

    def truncate(self, size: int) -> None:
        """Drop the leaves from ``size`` on (used to undo an append whose commit failed)."""
        if not 0 <= size <= self.size:
            raise ValueError("truncate size out of range")
        for k, level in enumerate(self._levels):
            if k == 0 or k >= self._cache_from:
                del level[(size >> k) * HASH_SIZE :]
        while len(self._levels) > 1 and not self._levels[-1] and (size >> (len(self._levels) - 1)) == 0:
            self._levels.pop()

    def _stored(self, k: int) -> bool:
        return k == 0 or k >= self._cache_from

    def _rebuild_interior(self) -> None:
        """Compute every complete node that the last append completed, level by level."""
        n = self.size
        top = n.bit_length() - 1  # highest level with a complete node
        while len(self._levels) <= top:
            self._levels.append(bytearray())
        # lo[k]: first node index of level k to compute. Stored levels continue from what they
        # hold; an unstored level needs the children of the first new node of the level above.
        lo = [0] * (top + 2)
        lo[top + 1] = 0
        for k in range(top, 0, -1):
            lo[k] = len(self._levels[k]) // HASH_SIZE if self._stored(k) else 2 * lo[k + 1]
        # Buffer of level k-1 nodes from index base_prev on.
        prev: bytes | bytearray | memoryview = self._levels[0]
        base_prev = 0
        for k in range(1, top + 1):
            hi = n >> k
            start = lo[k]
            if start >= hi:
                new = b""
            else:
                a = (2 * start - base_prev) * HASH_SIZE
                b = (2 * hi - base_prev) * HASH_SIZE
                new = _hash_pairs(memoryview(prev)[a:b])
            if self._stored(k):
                self._levels[k] += new
                prev, base_prev = self._levels[k], 0
            else:
                prev, base_prev = new, start

    # -- node access -----------------------------------------------------------------------
    def _node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree of height ``level`` covering leaves [index<<level, ...)."""
        if self._stored(level):
            o = index * HASH_SIZE
            return bytes(self._levels[level][o : o + HASH_SIZE])
        lo = (index << level) * HASH_SIZE
        buf: bytes | bytearray | memoryview = memoryview(self._levels[0])[lo : lo + (HASH_SIZE << level)]
        for _ in range(level):
            buf = _hash_pairs(buf)
        return bytes(buf)

    def _subtree(self, start: int, size: int) -> bytes:
        """MTH(D[start:start+size]); ``start`` is a multiple of the largest power of 2 <= size."""
        if size & (size - 1) == 0:
            level = size.bit_length() - 1
            return self._node(level, start >> level)
        # Right fold over the perfect subtrees that decompose [start, start+size).
        parts: list[bytes] = []
        pos, rem = start, size
        while rem:
            k = 1 << (rem.bit_length() - 1)
            parts.append(self._node(k.bit_length() - 1, pos >> (k.bit_length() - 1)))
            pos += k
            rem -= k
        acc = parts[-1]
        for p in reversed(parts[:-1]):
            acc = node_hash(p, acc)
        return acc

    # -- tree heads and proofs -------------------------------------------------------------
    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} out of range (have {self.size})")
        if size == 0:
            return EMPTY_ROOT
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 6962 §2.1.1 (RFC 9162 §2.1.3.1)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} out of range (have {self.size})")
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} out of range for tree size {size}")
        out: list[bytes] = []
        start, n, m = 0, size, index
        while n > 1:
            k = _largest_power_of_two_below(n)
            if m < k:
                out.append(self._subtree(start + k, n - k))
                n = k
            else:
                out.append(self._subtree(start, k))
                start, n, m = start + k, n - k, m - k
        out.reverse()  # the recursion appends from the leaf upwards
        return out

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """PROOF(old, D[0:new]) of RFC 6962 §2.1.2 (RFC 9162 §2.1.4.1); empty if old in (0, new)."""
        new = self.size if new is None else new
        if not 0 <= new <= self.size:
            raise ValueError(f"tree size {new} out of range (have {self.size})")
        if not 0 <= old <= new:
            raise ValueError(f"old size {old} must be between 0 and {new}")
        if old in (0, new):
            return []
        out: list[bytes] = []
        start, n, m, complete = 0, new, old, True
        while m != n:
            k = _largest_power_of_two_below(n)
            if m <= k:
                out.append(self._subtree(start + k, n - k))
                n = k
            else:
                out.append(self._subtree(start, k))
                start, n, m, complete = start + k, n - k, m - k, False
        if not complete:
            out.append(self._subtree(start, m))
        out.reverse()
        return out


# -- verification (RFC 9162) -------------------------------------------------------------------
def _valid_hashes(*hashes: bytes) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4), or None if malformed."""
    if not _valid_hashes(leaf, *proof) or not 0 <= index < size:  # step 1
        return None
    fn, sn = index, size - 1  # step 2
    r = bytes(leaf)  # step 3
    for p in proof:  # step 4
        if sn == 0:  # 4a
            return None
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0:  # step 5
        return None
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if not _valid_hashes(root):
        return False
    r = root_from_inclusion_proof(leaf, index, size, proof)
    return r is not None and r == bytes(root)


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``proof`` shows the tree (old, old_root) is a prefix of (new, new_root).

    RFC 9162 §2.1.4.2 for 0 < old < new. Edge cases as transparency-dev/merkle: old == new needs
    an empty proof and equal roots; old == 0 needs an empty proof (every tree extends the empty one).
    """
    if not _valid_hashes(old_root, new_root, *proof) or not 0 <= old <= new:
        return False
    if old == new:
        return not proof and bytes(old_root) == bytes(new_root)
    if old == 0:
        return not proof
    if not proof:  # step 1
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # step 2: old is an exact power of 2
        path.insert(0, bytes(old_root))
    fn, sn = old - 1, new - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == bytes(old_root) and sr == bytes(new_root) and sn == 0  # step 7
