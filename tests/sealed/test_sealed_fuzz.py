"""Hypothesis fuzzing of the parser: malformed input raises only Accord errors and writes no plaintext."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.sealed import container as c
from tests.sealed.util import read_zip, seal

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
_BLOBS: dict[str, bytes] = {}


def _valid(parties, roster) -> bytes:
    if "v" not in _BLOBS:
        _BLOBS["v"] = seal(b"fuzz me " * 300, parties, roster, to=("JPN", "USA"), segment_size=1024)
    return _BLOBS["v"]


def _try_open(blob: bytes, parties, roster) -> None:
    out = io.BytesIO()
    try:
        c.open_stream(io.BytesIO(blob), out, keys=parties["JPN"], roster=roster)
    except AccordError:
        return
    # Opened without error: must be the genuine payload (no undetected change).
    assert out.getvalue() == b"fuzz me " * 300
    with contextlib.suppress(AccordError):
        c.inspect_bytes(blob, roster=roster)


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes_raise_only_accord_errors(parties, roster, data):
    _try_open(data, parties, roster)
    with contextlib.suppress(AccordError):
        c.inspect_bytes(data, roster=None)


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_mutated_containers_raise_only_accord_errors(parties, roster, edits, cut):
    blob = bytearray(_valid(parties, roster))
    for pos, x in edits:
        blob[pos % len(blob)] ^= x
    if cut is not None:
        blob = blob[: cut % len(blob)]
    _try_open(bytes(blob), parties, roster)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@SETTINGS
@given(data=st.data())
def test_mutated_manifests_raise_only_accord_errors(parties, roster, data):
    manifest, payload = read_zip(_valid(parties, roster))
    paths = [p for p in _paths(manifest) if p]
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["replace", "delete"]))
    target = manifest
    for k in path[:-1]:
        target = target[k]
    if action == "delete":
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(JSON)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(c.PAYLOAD_NAME, payload)
        zf.writestr(c.MANIFEST_NAME, json.dumps(manifest).encode())
    _try_open(out.getvalue(), parties, roster)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), min_size=1, max_size=3)
)
def test_open_file_writes_no_partial_plaintext(tmp_path_factory, parties, roster, edits):
    d: Path = tmp_path_factory.mktemp("fuzz")
    blob = bytearray(_valid(parties, roster))
    for pos, x in edits:
        blob[pos % len(blob)] ^= x
    (d / "in.tdf").write_bytes(bytes(blob))
    try:
        c.open_file(d / "in.tdf", d / "out.bin", keys=parties["JPN"], roster=roster)
    except AccordError:
        assert sorted(p.name for p in d.iterdir()) == ["in.tdf"]
    else:
        assert (d / "out.bin").read_bytes() == b"fuzz me " * 300


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_roster_entry_parser_raises_only_accord_errors(data):
    from accord.sealed.keys import RosterEntry

    with contextlib.suppress(AccordError):
        RosterEntry.parse(data)


@SETTINGS
@given(data=st.data())
def test_mutated_roster_entries_raise_only_accord_errors(roster, data):
    from accord.sealed.keys import Roster, RosterEntry

    doc = json.loads(roster.latest("JPN").raw)
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = data.draw(JSON)
    try:
        entry = RosterEntry.parse(json.dumps(doc).encode())
        Roster().pin(entry)
    except AccordError:
        return


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=1024))
def test_party_keys_loader_raises_only_accord_errors(tmp_path_factory, data):
    from accord.sealed.keys import PartyKeys

    d = tmp_path_factory.mktemp("k")
    (d / "party-keys.json").write_bytes(data)
    (d / "party-keys.json").chmod(0o600)
    with contextlib.suppress(AccordError):
        PartyKeys.load(d)
