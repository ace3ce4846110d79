"""The manifest of a sealed item: the signed statement, its strict parser and its verification.

Pure (bytes in, verified values out; no zip, no file). ``docs/sealed-format.md``, "Manifest".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from accord.errors import InputError, IntegrityError, TrustError
from accord.formats.canonical import canonical_json
from accord.sealed import labelxml
from accord.sealed.format import (
    DS_ALT_LABEL,
    DS_REWRAP,
    DS_STATEMENT,
    DS_WRAP_INFO,
    FORMAT,
    HEX384_RE,
    KEYID_RE,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    MIN_SEGMENT_SIZE,
    PARTY_RE,
    PAYLOAD_NAME,
    VERSION,
    Reader,
    parse_json,
)
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.model import AltLabel, Grant, ManifestInfo, Relay
from accord.sealed.payload import key_commitment, segment_count
from accord.sealed.roster import instant
from accord.sealed.suites import get_suite, unwrap_key, verify_signature

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ITEM_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SRC = "sealed item"
SIG_ALG = "ecdsa-p384-sha384+mldsa87"


def statement_message(statement: dict[str, Any]) -> bytes:
    return DS_STATEMENT + canonical_json(statement)


def digest384(msg: bytes) -> bytes:
    return hashlib.sha384(msg).digest()


def wrap_info(stmt_digest: bytes, party: str, kid: str) -> bytes:
    return DS_WRAP_INFO + stmt_digest + party.encode("ascii") + b"\x00" + kid.encode("ascii")


@dataclass
class ParsedManifest:
    raw: dict[str, Any]
    statement: dict[str, Any]
    digest: bytes
    message: bytes
    signature: bytes
    info: ManifestInfo
    label_xml: bytes
    recipients: list[Grant]  # from the statement
    relays: list[Relay]
    key_access: list[tuple[str, str, bytes, str]]  # recipient, keyid, wrapped, grant ("statement" | "rewrap:i")
    rewraps: list[dict[str, Any]]
    alt_labels: list[dict[str, Any]]
    item_id: bytes = b""
    key_commitment: str = ""


def _strs(r: Reader, key: str, pattern: Any = PARTY_RE, max_len: int = 16) -> tuple[str, ...]:
    out = []
    for i, v in enumerate(r.list(key, max_len=max_len)):
        if not isinstance(v, str) or (pattern is not None and not pattern.fullmatch(v)):
            raise InputError("expected a list of codes", source=SRC, field=f"{r.path}.{key}[{i}]")
        out.append(v)
    return tuple(out)


def parse_manifest(data: bytes) -> ParsedManifest:
    """Parse a manifest strictly (unknown keys, wrong types and inconsistent sizes refused). No crypto."""
    m = Reader(parse_json(data, source=SRC), "", source=SRC)
    m.only("format", "version", "statement", "signature", "keyAccess", "rewraps", "alternativeLabels", "payload")
    if m.get("format") != FORMAT:
        raise InputError("not an accord sealed item", source=SRC, field="format")
    if m.get("version") != VERSION:
        raise InputError(
            f"unsupported version {str(m.get('version'))[:20]} (this reader knows {VERSION})",
            source=SRC,
            field="version",
        )
    p = m.sub("payload")
    p.only("url", "protocol", "isEncrypted")
    if p.get("url") != PAYLOAD_NAME or p.get("protocol") != "zip" or p.get("isEncrypted") is not True:
        raise InputError("unsupported payload reference", source=SRC, field="payload")
    s = m.sub("statement")
    s.only("type", "itemId", "holder", "signer", "at", "created", "suite", "label", "recipients", "relays", "payload")
    if s.str("type") != "accord-sealed-statement":
        raise InputError("wrong statement type", source=SRC, field="statement.type")
    item_id = bytes.fromhex(s.str("itemId", ITEM_ID_RE))
    holder = s.str("holder", PARTY_RE)
    sg = s.sub("signer")
    sg.only("party", "keyid")
    signer = sg.str("party", PARTY_RE)
    signer_kid = sg.str("keyid", KEYID_RE)
    at = s.str("at", DATE_RE)
    s.str("created")
    suite_id = s.str("suite")
    get_suite(suite_id)  # unknown suite: refuse
    label_xml = _label(s)
    recipients = _recipients(s, holder)
    relays = _relays(s)
    size, seg, nseg, root, commit, mime = _payload(s.sub("payload"))
    sig = m.sub("signature")
    sig.only("alg", "sig")
    if sig.get("alg") != SIG_ALG:
        raise InputError("unsupported signature algorithm", source=SRC, field="signature.alg")
    signature = sig.bytes("sig")
    key_access = _key_access(m, suite_id)
    statement = dict(s.obj)
    msg = statement_message(statement)
    info = ManifestInfo(
        FORMAT, VERSION, suite_id, holder, signer, signer_kid, at, item_id.hex(), size, seg, nseg, root, mime
    )
    return ParsedManifest(
        dict(m.obj),
        statement,
        digest384(msg),
        msg,
        signature,
        info,
        label_xml,
        recipients,
        relays,
        key_access,
        list(m.list("rewraps", max_len=64)),
        list(m.list("alternativeLabels", max_len=64)),
        item_id,
        commit,
    )


def _label(s: Reader) -> bytes:
    lab = s.sub("label")
    lab.only("format", "xml")
    if lab.str("format") != "stanag4774-xml":
        raise InputError("unsupported label format", source=SRC, field="statement.label.format")
    label_xml = lab.bytes("xml")
    labelxml.check(label_xml)
    return label_xml


def _recipients(s: Reader, holder: str) -> list[Grant]:
    recipients: list[Grant] = []
    for i in range(len(s.list("recipients", min_len=1, max_len=64))):
        r = s.item("recipients", i)
        r.only("party", "keyid", "route", "agreements")
        recipients.append(
            Grant(
                r.str("party", PARTY_RE),
                r.str("keyid", KEYID_RE),
                holder,
                _strs(r, "route"),
                _strs(r, "agreements", None, 64),
            )
        )
    if len({g.party for g in recipients}) != len(recipients):
        raise InputError("duplicate recipient", source=SRC, field="statement.recipients")
    return recipients


def _relays(s: Reader) -> list[Relay]:
    relays: list[Relay] = []
    for i in range(len(s.list("relays", max_len=64))):
        r = s.item("relays", i)
        r.only("to", "via", "route", "agreements")
        relays.append(
            Relay(r.str("to", PARTY_RE), _strs(r, "via"), _strs(r, "route"), _strs(r, "agreements", None, 64))
        )
    return relays


def _payload(pl: Reader) -> tuple[int, int, int, str, str, str]:
    pl.only("cipher", "segmentHash", "rootHash", "size", "segmentSize", "segments", "root", "keyCommitment", "mimeType")
    if (pl.get("cipher"), pl.get("segmentHash"), pl.get("rootHash")) != ("AES-256-GCM", "SHA-256", "SHA-384"):
        raise InputError("unsupported payload algorithms", source=SRC, field="statement.payload")
    size = pl.int("size")
    seg = pl.int("segmentSize", MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)
    nseg = pl.int("segments", 1, MAX_SEGMENTS)
    if nseg != segment_count(size, seg):
        raise InputError("segment count does not match size", source=SRC, field="statement.payload.segments")
    return size, seg, nseg, pl.str("root", HEX384_RE), pl.str("keyCommitment", HEX384_RE), pl.str("mimeType")


def _key_access(m: Reader, suite_id: str) -> list[tuple[str, str, bytes, str]]:
    key_access: list[tuple[str, str, bytes, str]] = []
    for i in range(len(m.list("keyAccess", min_len=1, max_len=128))):
        k = m.item("keyAccess", i)
        k.only("recipient", "keyid", "suite", "wrappedKey", "grant")
        if k.get("suite") != suite_id:
            raise InputError(
                "wrapped key suite differs from the item's suite", source=SRC, field=f"keyAccess[{i}].suite"
            )
        grant = k.str("grant")
        key_access.append((k.str("recipient", PARTY_RE), k.str("keyid", KEYID_RE), k.bytes("wrappedKey"), grant))
    return key_access


@dataclass
class Verified:
    grants: list[Grant]
    alt_labels: list[AltLabel]


def verify_manifest(parsed: ParsedManifest, roster: Roster) -> Verified:
    """Verify the statement, re-wrap records, alternative labels and key-access list against the roster."""
    info = parsed.info
    if info.signer != info.holder:
        raise InputError("the statement must be signed by the releasing holder", source=SRC, field="statement.signer")
    # TrustError when not in the roster, or retired before the statement was made (issue 9)
    rec = roster.signing_key(info.signer, info.signer_keyid, at=str(parsed.statement.get("created")))
    verify_signature(rec.public, parsed.signature, parsed.message)
    grants = _rewrap_grants(parsed, roster)
    _check_key_access(parsed, grants)
    return Verified(grants, _alt_labels(parsed, roster, grants))


def _rewrap_grants(parsed: ParsedManifest, roster: Roster) -> list[Grant]:
    """The statement's grants followed by one per verified re-wrap record."""
    grants = list(parsed.recipients)
    digest_hex = parsed.digest.hex()
    for i, raw in enumerate(parsed.rewraps):
        r = Reader(raw, f"rewraps[{i}]", source=SRC)
        r.only("signed", "signature")
        s = r.sub("signed")
        s.only("type", "statement", "hub", "to", "keyid", "wrappedKey", "route", "agreements", "at", "basis", "created")
        if s.get("type") != "accord-sealed-rewrap" or s.get("statement") != digest_hex:
            raise IntegrityError()
        hub = s.str("hub", PARTY_RE)
        sg = r.sub("signature")
        sg.only("keyid", "sig")
        hub_key = roster.signing_key(hub, sg.str("keyid", KEYID_RE), at=_signed_at(s, parsed), what="re-wrap record")
        verify_signature(hub_key.public, sg.bytes("sig"), DS_REWRAP + canonical_json(dict(s.obj)))
        if hub not in {g.party for g in grants}:
            raise IntegrityError()  # a re-wrap by a party that could not read the item
        to = s.str("to", PARTY_RE)
        if to in {g.party for g in grants}:
            raise InputError("re-wrap for a party that already holds a key", source=SRC, field=f"rewraps[{i}].to")
        s.str("wrappedKey", HEX384_RE)
        s.str("at", DATE_RE)
        s.str("basis")
        grants.append(Grant(to, s.str("keyid", KEYID_RE), hub, _strs(s, "route"), _strs(s, "agreements", None, 64)))
    return grants


def _check_key_access(parsed: ParsedManifest, grants: list[Grant]) -> None:
    """Every wrapped key must be accounted for by a signed grant, one for one."""
    if len(parsed.key_access) != len(grants):
        raise IntegrityError()
    for idx, (party, kid, wrapped, grant) in enumerate(parsed.key_access):
        g = grants[idx]
        if (party, kid) != (g.party, g.keyid):
            raise IntegrityError()
        if idx < len(parsed.recipients):
            if grant != "statement":
                raise IntegrityError()
        else:
            j = idx - len(parsed.recipients)
            if grant != f"rewrap:{j}":
                raise IntegrityError()
            if parsed.rewraps[j]["signed"]["wrappedKey"] != hashlib.sha384(wrapped).hexdigest():
                raise IntegrityError()


def _alt_labels(parsed: ParsedManifest, roster: Roster, grants: list[Grant]) -> list[AltLabel]:
    digest_hex = parsed.digest.hex()
    alts: list[AltLabel] = []
    for i, raw in enumerate(parsed.alt_labels):
        r = Reader(raw, f"alternativeLabels[{i}]", source=SRC)
        r.only("signed", "signature")
        s = r.sub("signed")
        s.only("type", "statement", "party", "xml", "created")
        if s.get("type") != "accord-sealed-alternative-label" or s.get("statement") != digest_hex:
            raise IntegrityError()
        party = s.str("party", PARTY_RE)
        if party not in {g.party for g in grants} or party in {a.party for a in alts}:
            raise IntegrityError()  # only a recipient adds one, once
        xml = s.bytes("xml")
        labelxml.check(xml, alternative=True)
        sg = r.sub("signature")
        sg.only("keyid", "sig")
        kid = sg.str("keyid", KEYID_RE)
        key = roster.signing_key(party, kid, at=_signed_at(s, parsed), what="alternative label")
        verify_signature(key.public, sg.bytes("sig"), DS_ALT_LABEL + canonical_json(dict(s.obj)))
        alts.append(AltLabel(party, kid, xml))
    return alts


def _signed_at(s: Reader, parsed: ParsedManifest) -> str | None:
    """When a re-wrap record or alternative label says it was signed (issue 9), or None (made before Accord
    recorded it: then only an active key verifies it). Never before the statement it adds to: a retired
    key cannot be used on an item made after its retirement, even with a backdated time."""
    if "created" not in s.obj:
        return None
    created = s.str("created")
    when = instant(created, source=SRC, field=f"{s.path}.created")
    if when < instant(str(parsed.statement.get("created")), source=SRC, field="statement.created"):
        raise IntegrityError()  # signed before the statement it re-wraps or marks: impossible, so forged
    return created


def unwrap_dek(parsed: ParsedManifest, grants: list[Grant], keys: PartyKeys) -> bytes:
    suite = get_suite(parsed.info.suite)
    mine = [(p, kid, w) for (p, kid, w, _g) in parsed.key_access if p == keys.party]
    if not mine:
        raise TrustError(
            f"{keys.party} is not a recipient of this item (recipients: {', '.join(g.party for g in grants)})"
        )
    for party, kid, wrapped in mine:
        kp = keys.find_enc(kid)
        if kp is None:
            raise TrustError(f"{keys.party} does not hold the key {kid} this item was wrapped for")
        if kp.key_type != suite.key_type:
            raise IntegrityError()
        dek = unwrap_key(suite, kp.private(), wrapped, wrap_info(parsed.digest, party, kid))
        if not hmac.compare_digest(key_commitment(dek, parsed.item_id), parsed.key_commitment):
            raise IntegrityError()
        return dek
    raise TrustError("no usable wrapped key")  # pragma: no cover
