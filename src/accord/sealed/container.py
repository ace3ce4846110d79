"""Sealed items: a zip holding ``0.payload`` (segmented AES-256-GCM) and ``0.manifest.json``.

The format is specified in ``docs/sealed-format.md``. In short:

- the payload is cut into segments (default 2 MiB), each sealed with AES-256-GCM under a fresh data key
  (nonce = segment index, AAD binds the item id, the index and a "final" flag: reordering and truncation
  fail); the SHA-256 of every sealed segment feeds a SHA-384 *root* (:mod:`accord.sealed.payload`);
- the originator's *statement* (label as STANAG 4774 XML, recipients with their key ids, suite, payload
  size/segments/root, key commitment) is signed with the hybrid ECDSA P-384 + ML-DSA-87 signature; the
  signature verifies only against the roster (a key carried in a file is never used)
  (:mod:`accord.sealed.manifest`);
- the data key is wrapped per recipient with HPKE, the HPKE ``info`` binding the statement digest, the
  recipient and its key id; a hub may add a wrapped key for the next nation under a signed *rewrap*
  record, and receiving nations may add signed ``alternativeConfidentialityLabel``s. Neither touches the
  statement, so the originator's signature stays valid.

This module makes no release decision: it seals against a :class:`~accord.sealed.plan.ReleasePlan` and
re-wraps against a :class:`~accord.sealed.plan.RewrapPlan`, both made by :mod:`accord.release`, and
refuses a plan made for another label or item. An inbound item is verified once into a
:class:`VerifiedItem`; opening, marking and re-wrapping use that object and write once.
"""

from __future__ import annotations

import io
import os
from typing import IO, Any, cast

from accord.errors import InputError, IntegrityError, TrustError
from accord.sealed import labelxml
from accord.sealed.format import (
    MANIFEST_NAME,
    PAYLOAD_NAME,
)
from accord.sealed.item import (
    VerifiedItem,
    _read_zip,
    add_alternative_label,
    open_item,
    rewrap_item,
    verify_bytes,
    verify_stream,
)
from accord.sealed.keys import PartyKeys, Roster, atomic_output
from accord.sealed.manifest import (
    verify_manifest,
)
from accord.sealed.model import AltLabel, Grant, Inspection, ManifestInfo, Opened, Relay
from accord.sealed.payload import (
    Progress,
    check_payload,
)
from accord.sealed.plan import Hop, RecipientPlan, ReleasePlan, RewrapPlan, label_digest
from accord.sealed.seal import seal_stream
from accord.sealed.suites import DEFAULT_SUITE, get_suite

__all__ = [
    "DEFAULT_SUITE",
    "MANIFEST_NAME",
    "PAYLOAD_NAME",
    "AltLabel",
    "Grant",
    "Hop",
    "Inspection",
    "ManifestInfo",
    "Opened",
    "RecipientPlan",
    "Relay",
    "ReleasePlan",
    "RewrapPlan",
    "VerifiedItem",
    "add_alternative_label",
    "add_alternative_label_bytes",
    "inspect_bytes",
    "inspect_file",
    "inspect_stream",
    "label_digest",
    "open_bytes",
    "open_file",
    "open_item",
    "open_stream",
    "rewrap_item",
    "rewrap_stream",
    "seal_path",
    "seal_stream",
    "verify_bytes",
    "verify_stream",
]

SRC = "sealed item"


def seal_path(in_path: str | os.PathLike[str], out_path: str | os.PathLike[str], **kwargs: Any) -> ManifestInfo:
    """File sealing (``kwargs`` as :func:`seal_stream`), written atomically."""
    with _open_input(in_path) as src, atomic_output(out_path, 0o644) as dst:
        return seal_stream(src, dst, **kwargs)


# --- one-call forms: streams, bytes, files --------------------------------------------------------------


def open_stream(
    src: IO[bytes],
    out: IO[bytes] | None,
    *,
    keys: PartyKeys,
    roster: Roster,
    progress: Progress | None = None,
) -> Opened:
    """Verify and decrypt; plaintext goes to ``out`` as it is verified segment by segment."""
    item = verify_stream(src, roster=roster, opening=keys)
    return open_item(item, keys=keys, out=out if out is not None else cast(IO[bytes], _Discard()), progress=progress)


def open_bytes(blob: bytes, *, keys: PartyKeys, roster: Roster) -> Opened:
    """Open a sealed item held in memory; returns the label and the payload."""
    return open_item(verify_bytes(blob, roster=roster, opening=keys), keys=keys)


def rewrap_stream(src: IO[bytes], dst: IO[bytes], *, keys: PartyKeys, roster: Roster, plan: RewrapPlan) -> None:
    """Verify ``src``, re-wrap it as ``plan`` says and write the result to ``dst``."""
    rewrap_item(verify_stream(src, roster=roster, opening=keys), plan, keys=keys, roster=roster).write(dst)


def add_alternative_label_bytes(blob: bytes, *, keys: PartyKeys, roster: Roster, xml: bytes) -> bytes:
    """:func:`add_alternative_label` on bytes (one verification, one write)."""
    labelxml.check(xml, alternative=True)
    return add_alternative_label(verify_bytes(blob, roster=roster), keys=keys, xml=xml).to_bytes()


def inspect_stream(
    src: IO[bytes], *, roster: Roster | None, check_payload: bool = True, progress: Progress | None = None
) -> Inspection:
    """Read the labels, recipients and suite, and check signatures and payload, without decrypting."""
    parsed, off = _read_zip(src)
    problems: list[str] = []
    grants: list[Grant] = list(parsed.recipients)
    alts: list[AltLabel] = []
    if roster is None:
        sig_status = "not checked"
    else:
        try:
            v = verify_manifest(parsed, roster)
            grants, alts = v.grants, v.alt_labels
            sig_status = "valid"
        except TrustError as e:
            sig_status = "untrusted"
            problems.append(str(e))
        except IntegrityError:
            sig_status = "invalid"
            problems.append("a signature or key-access record does not verify")
    pay_status = "not checked"
    if check_payload:
        try:
            _check(src, off, parsed.info, progress)
            pay_status = "intact"
        except IntegrityError:
            pay_status = "corrupt"
            problems.append("the payload does not match the signed root")
    label = labelxml.parse_label(parsed.label_xml)
    return Inspection(
        labelxml.banner(parsed.label_xml, label),
        parsed.label_xml,
        parsed.info,
        get_suite(parsed.info.suite).description,
        tuple(grants),
        tuple(parsed.relays),
        tuple(alts),
        sig_status,
        pay_status,
        tuple(problems),
    )


_check = check_payload  # the parameter of inspect_stream shadows the name


def inspect_bytes(blob: bytes, *, roster: Roster | None) -> Inspection:
    return inspect_stream(io.BytesIO(blob), roster=roster)


def _open_input(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for reading (the caller closes it); an unreadable file is bad input naming it."""
    try:
        return open(path, "rb")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", source=str(path)) from e


def open_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    keys: PartyKeys,
    roster: Roster,
    progress: Progress | None = None,
) -> Opened:
    """Open a sealed file into ``out_path``: plaintext is written to a 0600 temp file in the destination
    directory and renamed only after every check passed; on any failure the temp file is deleted."""
    with _open_input(in_path) as src, atomic_output(out_path) as dst:
        return open_stream(src, dst, keys=keys, roster=roster, progress=progress)


def inspect_file(
    path: str | os.PathLike[str],
    *,
    roster: Roster | None,
    check_payload: bool = True,
    progress: Progress | None = None,
) -> Inspection:
    with _open_input(path) as src:
        return inspect_stream(src, roster=roster, check_payload=check_payload, progress=progress)


def rewrap_path(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    keys: PartyKeys,
    roster: Roster,
    plan: RewrapPlan,
) -> None:
    """File form of :func:`rewrap_stream` (the payload is copied, never decrypted), written atomically."""
    with _open_input(in_path) as src, atomic_output(out_path, 0o644) as dst:
        rewrap_stream(src, dst, keys=keys, roster=roster, plan=plan)


class _Discard(io.RawIOBase):
    """A sink for open_stream(out=None): the plaintext is checked, then dropped."""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return len(b)
