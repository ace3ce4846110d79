"""Helpers for the sealed-item tests: a STANAG 4774 label, sealing, and zip surgery."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import date
from typing import Any

from accord.sealed import container as c
from accord.sealed.keys import PartyKeys, Roster

AT = date(2017, 1, 5)
NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"


def label_xml(originator: str = "KOR", cls: str = "II", rel: tuple[str, ...] = ("JPN", "USA")) -> bytes:
    vals = "".join(f"<slab:GenericValue>{r}</slab:GenericValue>" for r in rel)
    return (
        f'<slab:originatorConfidentialityLabel xmlns:slab="{NS}" ReviewDateTime="2018-01-01T00:00:00Z">'
        f"<slab:ConfidentialityInformation><slab:PolicyIdentifier>{originator}</slab:PolicyIdentifier>"
        f"<slab:Classification>{cls}</slab:Classification>"
        f'<slab:Category TagName="Releasable To" Type="PERMISSIVE">{vals}</slab:Category>'
        f"</slab:ConfidentialityInformation><slab:CreationDateTime>2017-01-01T00:00:00Z</slab:CreationDateTime>"
        f"</slab:originatorConfidentialityLabel>"
    ).encode()


def seal(
    payload: bytes,
    parties: dict[str, PartyKeys],
    roster: Roster,
    *,
    to: tuple[str, ...] = ("JPN",),
    signer: str = "KOR",
    suite: str | None = None,
    segment_size: int = 1024,
    label: bytes | None = None,
) -> bytes:
    out = io.BytesIO()
    lab = label if label is not None else label_xml()
    c.seal_stream(
        io.BytesIO(payload),
        out,
        label_xml=lab,
        plan=c.ReleasePlan.without_decision(lab, holder=signer, recipients=to, at=AT, suite=suite),
        signer=parties[signer],
        roster=roster,
        segment_size=segment_size,
    )
    return out.getvalue()


def read_zip(blob: bytes) -> tuple[dict[str, Any], bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read(c.MANIFEST_NAME)), zf.read(c.PAYLOAD_NAME)


def rebuild(
    blob: bytes,
    manifest_fn: Callable[[dict[str, Any]], Any] | None = None,
    payload_fn: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """A copy of ``blob`` with its manifest and/or payload changed (a well-formed zip)."""
    manifest, payload = read_zip(blob)
    if manifest_fn is not None:
        manifest = manifest_fn(manifest) or manifest
    if payload_fn is not None:
        payload = payload_fn(payload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(c.PAYLOAD_NAME, payload)
        zf.writestr(c.MANIFEST_NAME, json.dumps(manifest, ensure_ascii=False).encode())
    return out.getvalue()
