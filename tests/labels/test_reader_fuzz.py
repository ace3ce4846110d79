"""Whatever bytes arrive, the label reader answers with a Label or one LabelError/InputError — never
another exception (which would surface as a traceback) — and what it accepts is schema-valid to re-write."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.formats.stanag4774 import label_to_xml, read_label_documents
from tests.labels.xsd import assert_valid

VECTORS = sorted((Path(__file__).parent.parent / "vectors" / "labels").rglob("*.xml"))
SEEDS = [p.read_bytes() for p in VECTORS]
TOKENS = [
    b"Classification",
    b"PolicyIdentifier",
    b"Category",
    b"Releasable To",
    b"Only",
    b"NATO",
    b"URI=",
    b"SuccessionHandling",
    b"2017-03-01T00:00:00",
    b"0001-01-01T00:00:00",
    b"9999-12-31T23:59:59-14:00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"<!DOCTYPE x>",
    b"urn:oid:1.3.26.1.4.2",
    b"RESTRICTIVE",
    b"",
    b"&amp;",
    b"<slab:GenericValue>X</slab:GenericValue>",
    b"accord:ItemId",
    b"Id=",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 24))
        data[pos : pos + cut] = draw(st.sampled_from(TOKENS)) if draw(st.booleans()) else draw(st.binary(max_size=8))
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_labels_are_read_or_refused_cleanly(data: bytes) -> None:
    try:
        docs = read_label_documents(data, source="fuzz")
    except AccordError:
        return
    for d in docs:
        for day in (date(1, 1, 1), date(2017, 3, 1), date.max):
            d.label.effective_at(day)
        if d.kind == "originator":
            assert_valid(label_to_xml(d.label))
