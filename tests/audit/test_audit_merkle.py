"""RFC 6962 / RFC 9162 Merkle tree: vectors, a naive reference, and corrupted proofs (JK-R11 trail)."""

from __future__ import annotations

import base64
import json
import random
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "audit"
CT = json.loads((VECTORS / "rfc6962_ct_vectors.json").read_text())
TD = json.loads((VECTORS / "transparency_dev_testdata.json").read_text())
MAX_SIZE = 3000


def _data(i: int) -> bytes:
    return f"leaf-{i}".encode()


LEAVES = [leaf_hash(_data(i)) for i in range(MAX_SIZE)]


# -- an independent reference: the recursive definitions of RFC 6962 §2.1, memoised ---------------
@cache
def ref_mth(start: int, n: int) -> bytes:
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return LEAVES[start]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(ref_mth(start, k), ref_mth(start + k, n - k))


def ref_path(m: int, start: int, n: int) -> list[bytes]:
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, start, k), ref_mth(start + k, n - k)]
    return [*ref_path(m - k, start + k, n - k), ref_mth(start, k)]


def ref_subproof(m: int, start: int, n: int, b: bool) -> list[bytes]:
    if m == n:
        return [] if b else [ref_mth(start, n)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, start, k, b), ref_mth(start + k, n - k)]
    return [*ref_subproof(m - k, start + k, n - k, False), ref_mth(start, k)]


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    t = MerkleTree()
    # Build in uneven chunks so incremental appends are exercised too.
    pos = 0
    for chunk in (1, 2, 5, 64, 100, 1000, MAX_SIZE):
        t.extend(LEAVES[pos : pos + chunk])
        pos = min(pos + chunk, MAX_SIZE)
    assert t.size == MAX_SIZE
    return t


def test_hashes_match_rfc6962_known_values() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    t = MerkleTree([leaf_hash(b"a"), leaf_hash(b"b")])
    assert t.root().hex() == "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb"


def test_ct_vectors_roots_and_leaf_hashes() -> None:
    leaves = [bytes.fromhex(x) for x in CT["leaves_hex"]]
    hashes = [leaf_hash(x) for x in leaves]
    assert [h.hex() for h in hashes] == CT["leaf_hashes_hex"]
    t = MerkleTree(hashes)
    for size, root in enumerate(CT["roots_hex_by_size"]):
        assert t.root(size).hex() == root


@pytest.mark.parametrize("vec", CT["inclusion"], ids=lambda v: f"{v['index']}@{v['size']}")
def test_ct_vectors_inclusion(vec: dict) -> None:
    t = MerkleTree(leaf_hash(bytes.fromhex(x)) for x in CT["leaves_hex"])
    proof = [bytes.fromhex(p) for p in vec["proof_hex"]]
    assert t.inclusion_proof(vec["index"], vec["size"]) == proof
    root = bytes.fromhex(CT["roots_hex_by_size"][vec["size"]])
    assert verify_inclusion(t.leaf_hash(vec["index"]), vec["index"], vec["size"], proof, root)


@pytest.mark.parametrize("vec", CT["consistency"], ids=lambda v: f"{v['old']}-{v['new']}")
def test_ct_vectors_consistency(vec: dict) -> None:
    t = MerkleTree(leaf_hash(bytes.fromhex(x)) for x in CT["leaves_hex"])
    proof = [bytes.fromhex(p) for p in vec["proof_hex"]]
    assert t.consistency_proof(vec["old"], vec["new"]) == proof
    r1 = bytes.fromhex(CT["roots_hex_by_size"][vec["old"]])
    r2 = bytes.fromhex(CT["roots_hex_by_size"][vec["new"]])
    assert verify_consistency(vec["old"], vec["new"], r1, r2, proof)


def _b(x: str) -> bytes:
    return base64.b64decode(x)


@pytest.mark.parametrize("vec", TD["inclusion"], ids=lambda v: v["file"])
def test_transparency_dev_inclusion_testdata(vec: dict) -> None:
    ok = verify_inclusion(
        _b(vec["leafHash"]), vec["leafIdx"], vec["treeSize"], [_b(p) for p in vec["proof"]], _b(vec["root"])
    )
    assert ok is not vec["wantErr"]


@pytest.mark.parametrize("vec", TD["consistency"], ids=lambda v: v["file"])
def test_transparency_dev_consistency_testdata(vec: dict) -> None:
    ok = verify_consistency(
        vec["size1"], vec["size2"], _b(vec["root1"]), _b(vec["root2"]), [_b(p) for p in vec["proof"]]
    )
    assert ok is not vec["wantErr"]


def test_every_size_root_matches_reference(tree: MerkleTree) -> None:
    for n in range(MAX_SIZE + 1):
        assert tree.root(n) == ref_mth(0, n), n


def _indices(n: int) -> list[int]:
    rnd = random.Random(n)
    return sorted({0, n - 1, n // 2, rnd.randrange(n), rnd.randrange(n)})


def test_every_size_inclusion_proofs_match_reference_and_verify(tree: MerkleTree) -> None:
    for n in range(1, MAX_SIZE + 1):
        root = tree.root(n)
        for m in range(n) if n <= 64 else _indices(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == ref_path(m, 0, n), (m, n)
            assert verify_inclusion(LEAVES[m], m, n, proof, root), (m, n)


def test_every_size_consistency_proofs_match_reference_and_verify(tree: MerkleTree) -> None:
    for n in range(1, MAX_SIZE + 1):
        for m in range(1, n + 1) if n <= 64 else [*_indices(n)[1:], 1]:
            proof = tree.consistency_proof(m, n)
            assert proof == (ref_subproof(m, 0, n, True) if m < n else []), (m, n)
            assert verify_consistency(m, n, tree.root(m), tree.root(n), proof), (m, n)


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def _inclusion_corruptions(m: int, n: int, proof: list[bytes], root: bytes, leaf: bytes):
    some = bytes(range(32))
    yield "index-1", m - 1, n, proof, root, leaf
    yield "index+1", m + 1, n, proof, root, leaf
    yield "index^2", m ^ 2, n, proof, root, leaf
    yield "size*2", m, n * 2, proof, root, leaf
    yield "size/2", m, n // 2, proof, root, leaf
    yield "wrong leaf", m, n, proof, root, leaf_hash(b"other")
    yield "empty root", m, n, proof, EMPTY_ROOT, leaf
    yield "random root", m, n, proof, some, leaf
    yield "trailing root", m, n, [*proof, root], root, leaf
    yield "trailing garbage", m, n, [*proof, b""], root, leaf
    yield "preceding root", m, n, [root, *proof], root, leaf
    if proof:
        yield "removed component", m, n, proof[:-1], root, leaf
        yield "inserted component", m, n, [proof[0], some, *proof[1:]], root, leaf
        if proof[::-1] != proof:
            yield "swapped", m, n, proof[::-1], root, leaf
    for i in range(len(proof)):
        for bit in (0, 3, 128, 255):
            p = list(proof)
            p[i] = _flip(p[i], bit)
            yield f"bit {bit} of proof[{i}]", m, n, p, root, leaf
    for bit in (0, 255):
        yield f"bit {bit} of leaf", m, n, proof, root, _flip(leaf, bit)
        yield f"bit {bit} of root", m, n, proof, _flip(root, bit), leaf


def test_every_corrupted_inclusion_proof_fails(tree: MerkleTree) -> None:
    checked = 0
    for n in [*range(1, 130), 255, 256, 257, 1000, 1023, 1024, 1025, MAX_SIZE]:
        root = tree.root(n)
        for m in range(n) if n <= 40 else _indices(n):
            proof = tree.inclusion_proof(m, n)
            for desc, mm, nn, p, r, lf in _inclusion_corruptions(m, n, proof, root, LEAVES[m]):
                if desc == "index^2" and mm == m:
                    continue
                if (mm, nn) != (m, n) and 0 <= mm < nn <= MAX_SIZE and p == tree.inclusion_proof(mm, nn):
                    continue  # the "corruption" happens to be another valid statement
                assert not verify_inclusion(lf, mm, nn, p, r), (desc, m, n)
                checked += 1
    assert checked > 10_000


def _consistency_corruptions(m: int, n: int, proof: list[bytes], r1: bytes, r2: bytes):
    yield "size1-1", m - 1, n, proof, r1, r2
    yield "size1+1", m + 1, n, proof, r1, r2
    yield "size1^2", m ^ 2, n, proof, r1, r2
    yield "size2*2", m, n * 2, proof, r1, r2
    yield "size2/2", m, n // 2, proof, r1, r2
    yield "wrong root1", m, n, proof, leaf_hash(b"x"), r2
    yield "wrong root2", m, n, proof, r1, leaf_hash(b"x")
    yield "swapped roots", m, n, proof, r2, r1
    yield "empty proof", m, n, [], r1, r2
    yield "trailing garbage", m, n, [*proof, b""], r1, r2
    yield "trailing root1", m, n, [*proof, r1], r1, r2
    yield "trailing root2", m, n, [*proof, r2], r1, r2
    yield "preceding root1", m, n, [r1, *proof], r1, r2
    yield "preceding root2", m, n, [r2, *proof], r1, r2
    yield "preceding proof[0]", m, n, [proof[0], *proof], r1, r2
    yield "truncated", m, n, proof[:-1], r1, r2
    for i in range(len(proof)):
        for bit in (4, 200):
            p = list(proof)
            p[i] = _flip(p[i], bit)
            yield f"bit {bit} of proof[{i}]", m, n, p, r1, r2


def test_every_corrupted_consistency_proof_fails(tree: MerkleTree) -> None:
    checked = 0
    for n in [*range(2, 100), 256, 257, 1024, 1025, MAX_SIZE]:
        for m in range(1, n) if n <= 40 else [1, 2, n // 3, n // 2, n - 1]:
            proof = tree.consistency_proof(m, n)
            r1, r2 = tree.root(m), tree.root(n)
            for desc, mm, nn, p, a, b in _consistency_corruptions(m, n, proof, r1, r2):
                if (mm, nn) == (m, n) and (a, b) == (r1, r2) and p == proof:
                    continue
                if (
                    0 <= mm <= nn <= MAX_SIZE
                    and (a, b) == (tree.root(mm), tree.root(nn))
                    and p == tree.consistency_proof(mm, nn)
                ):
                    continue  # another valid statement
                assert not verify_consistency(mm, nn, a, b, p), (desc, m, n)
                checked += 1
    assert checked > 10_000


def test_consistency_edge_cases() -> None:
    r1, r2 = leaf_hash(b"1"), leaf_hash(b"2")
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])  # every tree extends the empty one
    assert verify_consistency(3, 3, r1, r1, [])
    assert not verify_consistency(3, 3, r1, r2, [])  # same size, different roots
    assert not verify_consistency(3, 3, r1, r1, [r1])  # same size needs an empty proof
    assert not verify_consistency(0, 1, EMPTY_ROOT, r1, [r1])
    assert not verify_consistency(2, 1, r1, r2, [])  # time travel
    assert not verify_consistency(1, 2, r1, r2, [])  # empty proof


def test_inclusion_edge_cases() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 0, [], h)
    assert not verify_inclusion(h, 1, 1, [], h)
    assert not verify_inclusion(b"", 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert root_from_inclusion_proof(h, 0, 2, []) is None


def test_cache_levels_give_identical_results() -> None:
    full = MerkleTree(LEAVES[:700], cache_from_level=1)
    lean = MerkleTree(LEAVES[:700], cache_from_level=6)
    for n in (1, 2, 63, 64, 65, 513, 700):
        assert full.root(n) == lean.root(n)
        assert full.inclusion_proof(n - 1, n) == lean.inclusion_proof(n - 1, n)
        assert full.consistency_proof(n // 2, n) == lean.consistency_proof(n // 2, n)


def test_truncate_undoes_an_append() -> None:
    t = MerkleTree(LEAVES[:300])
    before = t.root()
    t.extend(LEAVES[300:333])
    t.truncate(300)
    assert t.root() == before
    t.extend(LEAVES[300:400])
    assert t.root() == ref_mth(0, 400)


def test_bad_arguments_are_rejected() -> None:
    t = MerkleTree(LEAVES[:10])
    with pytest.raises(ValueError, match="32 bytes"):
        t.append(b"short")
    with pytest.raises(ValueError, match="out of range"):
        t.inclusion_proof(10, 10)
    with pytest.raises(ValueError, match="out of range"):
        t.consistency_proof(5, 11)
    with pytest.raises(ValueError, match="out of range"):
        t.root(11)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, MAX_SIZE), st.data())
def test_property_proofs_verify_for_random_sizes(n: int, data: st.DataObject) -> None:
    t = MerkleTree(LEAVES[:n])
    m = data.draw(st.integers(0, n - 1))
    assert verify_inclusion(LEAVES[m], m, n, t.inclusion_proof(m, n), t.root())
    old = data.draw(st.integers(0, n))
    assert verify_consistency(old, n, t.root(old), t.root(), t.consistency_proof(old, n))
