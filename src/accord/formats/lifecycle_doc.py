"""Signed agreement-lifecycle documents (spec: ``docs/agreements.md`` § Lifecycle documents).

A notice of termination, its suspension or withdrawal, a suspension or resumption of the agreement,
a termination, a renewal or an amendment arrives as a document signed by the party that acts (a
renewal or an amendment: by every party, JK-R30). Before it changes anything a node checks, in order:

1. form: known fields only, no repeated key, dates, an event type, ``by`` a party;
2. signatures: at least one; each by a party to the agreement, with a key that party holds (the pinned
   roster, :class:`accord.sealed.verifiers.RosterKeys`, or an Ed25519 key file), over the canonical bytes
   of the document without its signatures; the acting party (every party, for a joint act) among the signers;
3. order: not dated before the agreement was signed, not before the agreement's last event, not a
   repeat, and meaningful in the agreement's state that day (a notice withdrawn only while one is
   pending or suspended, nothing after termination, a resumption only while suspended...).

A bad document raises :class:`LifecycleError` (``SOURCE: FIELD: what``) and nothing is applied.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from accord.core.agreements import Agreement, AgreementSet, Event, EventType, Status, Terms
from accord.core.parties import is_alpha3, is_text
from accord.errors import AgreementError, InputError
from accord.formats._dates import document_day
from accord.formats._yaml import load_yaml
from accord.formats.canonical import canonical_json

FORMAT = "accord-lifecycle/1"
#: Domain separation of the signed bytes.
DS_LIFECYCLE = b"accord-lifecycle/v1 document\x00"

_KEYS = {"format", "agreement", "event", "signatures"}
_EVENT_KEYS = {"type", "date", "by", "effective", "note", "terms"}
_SIG_KEYS = {"party", "keyid", "sig"}
#: Acts of both (all) parties (JK-R30: amendment by mutual written consent).
JOINT = frozenset({EventType.AMENDED, EventType.RENEWED})
#: Event types a document may carry (a signing aborted is history, not an act on a live agreement).
DOCUMENT_TYPES = tuple(t for t in EventType if t is not EventType.SIGNING_ABORTED)


class LifecycleError(InputError):
    """A lifecycle document is malformed, wrongly signed or out of order; nothing was applied."""


class KeySource(Protocol):
    """Where a party's signing keys come from."""

    def verify(self, party: str, keyid: str, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` over ``message`` verifies with ``party``'s key ``keyid``."""
        ...


class Ed25519Keys:
    """Party Ed25519 public keys: ``{PARTY: [hex public key, ...]}`` (key id: first 16 hex of SHA-256)."""

    def __init__(self, keys: Mapping[str, Sequence[bytes]]) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._keys = {
            (party, ed25519_keyid(raw)): Ed25519PublicKey.from_public_bytes(raw)
            for party, raws in keys.items()
            for raw in raws
        }

    @classmethod
    def load(cls, path: str | Path) -> Ed25519Keys:
        p = Path(path)
        try:
            data = load_yaml(p.read_bytes(), source=str(p))
        except OSError as exc:
            raise LifecycleError(f"cannot read: {exc.strerror}", source=str(p)) from None
        if not isinstance(data, Mapping):
            raise LifecycleError("expected a mapping PARTY: [hex public keys]", source=str(p))
        keys: dict[str, list[bytes]] = {}
        for party, raws in data.items():
            if not is_alpha3(party) or not isinstance(raws, list):
                raise LifecycleError("expected PARTY: [hex public keys]", source=str(p), field=str(party))
            try:
                keys[party] = [bytes.fromhex(r) for r in raws]
                cls({party: keys[party]})
            except (ValueError, TypeError):
                raise LifecycleError(
                    "not a 32-byte Ed25519 public key in hex", source=str(p), field=str(party)
                ) from None
        return cls(keys)

    def verify(self, party: str, keyid: str, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        key = self._keys.get((party, keyid))
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def ed25519_keyid(public_raw: bytes) -> str:
    """The key id of an Ed25519 public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class LifecycleDocument:
    """A verified lifecycle document.

    Attributes:
        agreement: the agreement id.
        event: the event it records (applied to the agreement's lifecycle).
        signers: the parties whose signatures verified.
        digest: SHA-256 of the signed bytes (its identity: a repeat is refused).
        source: where it came from.
    """

    agreement: str
    event: Event
    signers: tuple[str, ...]
    digest: str
    source: str


def signed_bytes(body: Mapping[str, Any]) -> bytes:
    """The bytes every signature covers: the document without ``signatures``, canonical JSON."""
    return DS_LIFECYCLE + canonical_json({k: v for k, v in body.items() if k != "signatures"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def sign_document(body: Mapping[str, Any], party: str, keyid: str, sign: Any) -> dict[str, Any]:
    """``body`` with one more signature by ``party`` (``sign(message) -> bytes``, e.g. PartyKeys.sign)."""
    doc = _jsonable(dict(body))
    sig = sign(signed_bytes(doc))
    doc["signatures"] = [
        *doc.get("signatures", []),
        {"party": party, "keyid": keyid, "sig": base64.b64encode(sig).decode()},
    ]
    return doc  # type: ignore[no-any-return]


def _terms(raw: Any, ag: Agreement, source: str) -> Terms:
    from accord.formats.agreement_yaml import _Ctx
    from accord.formats.agreement_yaml import _terms as parse_terms

    if not isinstance(raw, Mapping):
        raise LifecycleError("expected {scope, equivalence}", source=source, field="event.terms")
    try:
        from accord.core.schemes import bundled

        schemes = ag.schemes if ag.schemes is not None else bundled()
        return parse_terms(_Ctx(source), raw.get("scope"), raw.get("equivalence"), ag.parties, "event.terms", schemes)
    except AgreementError as exc:
        raise LifecycleError(exc.message, source=source, field=exc.field) from None


def verify_document(data: Any, agreements: AgreementSet, keys: KeySource, *, source: str) -> LifecycleDocument:
    """Check a parsed document (form, signatures, order) against ``agreements``; raise :class:`LifecycleError`."""

    def err(field: str, message: str) -> LifecycleError:
        return LifecycleError(message, source=source, field=field)

    if not isinstance(data, Mapping):
        raise err("(document)", "a lifecycle document is a mapping of fields")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise err("(document)", f"unknown field(s) {', '.join(unknown)}")
    if data.get("format") != FORMAT:
        raise err("format", f"expected {FORMAT!r}")
    agreement_id = data.get("agreement")
    ag = agreements.get(agreement_id) if isinstance(agreement_id, str) else None
    if ag is None:
        raise err("agreement", f"no agreement {agreement_id!r} is loaded")
    ev = data.get("event")
    if not isinstance(ev, Mapping):
        raise err("event", "expected a mapping {type, date, by, ...}")
    unknown = sorted(str(k) for k in ev if k not in _EVENT_KEYS)
    if unknown:
        raise err("event", f"unknown field(s) {', '.join(unknown)}")
    try:
        etype = EventType(str(ev.get("type")))
    except ValueError:
        etype = EventType.SIGNING_ABORTED
    if etype not in DOCUMENT_TYPES:
        raise err("event.type", f"expected one of {', '.join(t.value for t in DOCUMENT_TYPES)}")
    on = document_day(ev.get("date"), source=source, field="event.date", error=LifecycleError)
    effective = document_day(
        ev.get("effective"), source=source, field="event.effective", optional=True, error=LifecycleError
    )
    assert on is not None
    by = ev.get("by")
    if by is None and etype not in JOINT:
        raise err("event.by", "required: the party that acts")
    if by is not None and by not in ag.parties:
        raise err("event.by", f"{by!r} is not a party to {ag.id} ({', '.join(ag.parties)})")
    note = ev.get("note", "")
    if not isinstance(note, str):
        raise err("event.note", "expected text")
    if effective is not None and (etype is not EventType.NOTICE_OF_TERMINATION or effective < on):
        raise err("event.effective", "only a notice of termination has an effective date, on or after its date")
    terms = _terms(ev["terms"], ag, source) if "terms" in ev else None
    if (terms is None) == (etype is EventType.AMENDED):
        raise err("event.terms", "an amendment carries the new terms, and only an amendment does")
    signers, message = _signers(data, ag, keys, err)
    needed = set(ag.parties) if etype in JOINT else {by}
    missing = sorted(p for p in needed if p not in signers)  # type: ignore[type-var]
    if missing:
        what = "every party (a joint act, JK-R30)" if etype in JOINT else f"the acting party {by}"
        raise err("signatures", f"not signed by {', '.join(str(m) for m in missing)}: {what} must sign")
    event = Event(
        on=on,
        type=etype,
        note=note or f"signed {etype.value} ({', '.join(signers)})",
        by=by,
        effective=effective,
        terms=terms,
        sourced=True,
    )
    _check_order(ag, event, err)
    return LifecycleDocument(ag.id, event, tuple(signers), hashlib.sha256(message).hexdigest(), source)


def _signers(data: Mapping[str, Any], ag: Agreement, keys: KeySource, err: Any) -> tuple[list[str], bytes]:
    """Who signed the document (each a party to ``ag``, once, with a key it holds) and the bytes they signed."""
    sigs = data.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise err("signatures", "the document is not signed")
    try:
        body = {k: v for k, v in _jsonable(dict(data)).items() if k != "signatures"}
        message = signed_bytes(body)
    except (TypeError, ValueError):
        raise err("(document)", "holds a value that is not text, number, boolean, date, list or mapping") from None
    signers: list[str] = []
    for i, raw in enumerate(sigs):
        f = f"signatures[{i}]"
        if not isinstance(raw, Mapping) or set(raw) != _SIG_KEYS:
            raise err(f, "expected {party, keyid, sig}")
        party, keyid = raw["party"], raw["keyid"]
        if party not in ag.parties:
            raise err(f"{f}.party", f"signed by {party!r}, which is not a party to {ag.id}")
        if not is_text(keyid):
            raise err(f"{f}.keyid", "expected a key id")
        try:
            sig = base64.b64decode(str(raw["sig"]), validate=True)
        except (binascii.Error, ValueError):
            raise err(f"{f}.sig", "not base64") from None
        if not keys.verify(party, keyid, sig, message):
            raise err(f"{f}.sig", f"the signature of {party} (key {keyid}) does not verify")
        if party in signers:
            raise err(f"{f}.party", f"{party} signs twice")
        signers.append(party)
    return signers, message


def _check_order(ag: Agreement, event: Event, err: Any) -> None:
    life = ag.lifecycle
    if life.signed is None:
        raise err("event.date", f"{ag.id} was never signed: nothing can happen to it")
    if event.on < life.signed:
        raise err("event.date", f"dated {event.on}, before the agreement was signed ({life.signed})")
    if life.in_force is not None and event.on < life.in_force:
        raise err("event.date", f"dated {event.on}, before the agreement entered into force ({life.in_force})")
    for prior in life.events:
        if prior.on == event.on and prior.type is event.type:
            raise err("event", f"already recorded: {event.type.value} on {event.on}")
    last = max((e.on for e in life.events if e.type is not EventType.SIGNING_ABORTED), default=None)
    if last is not None and event.on < last:
        raise err("event.date", f"out of order: dated {event.on}, before the agreement's last event ({last})")
    status = ag.state_at(event.on).status
    if status is Status.TERMINATED:
        raise err("event.type", f"out of order: {ag.id} is terminated on {event.on}")
    t = event.type
    allowed: dict[EventType, frozenset[Status]] = {
        EventType.NOTICE_OF_TERMINATION: frozenset({Status.IN_FORCE, Status.NOTICE_SUSPENDED, Status.SUSPENDED}),
        EventType.NOTICE_SUSPENDED: frozenset({Status.NOTICE_PENDING}),
        EventType.NOTICE_WITHDRAWN: frozenset({Status.NOTICE_PENDING, Status.NOTICE_SUSPENDED}),
        EventType.SUSPENDED: frozenset({Status.IN_FORCE, Status.NOTICE_PENDING, Status.NOTICE_SUSPENDED}),
        EventType.RESUMED: frozenset({Status.SUSPENDED}),
    }
    if t in allowed and status not in allowed[t]:
        raise err("event.type", f"out of order: a {t.value} when {ag.id} is {status.value} on {event.on}")


def parse_document(raw: bytes, *, source: str) -> Any:
    """The document's fields (strict YAML/JSON)."""
    try:
        return load_yaml(raw, source=source)
    except InputError as exc:
        raise LifecycleError(exc.message, source=source) from None


def load_document(path: str | Path, agreements: AgreementSet, keys: KeySource) -> LifecycleDocument:
    """Read and verify one lifecycle document file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise LifecycleError(f"cannot read: {exc.strerror}", source=str(p)) from None
    return verify_document(parse_document(raw, source=str(p)), agreements, keys, source=str(p))


def apply_documents(agreements: AgreementSet, docs: Iterable[LifecycleDocument]) -> AgreementSet:
    """The agreement set with each verified document's event added."""
    return agreements.what_if(add=[(d.agreement, d.event) for d in docs])


def load_store(directory: str | Path, agreements: AgreementSet, keys: KeySource) -> AgreementSet:
    """Apply every document of an event store (``*.yaml``/``*.json``, in date order), each verified against
    the set as it stands after the previous ones (so order is checked too)."""
    d = Path(directory)
    if not d.is_dir():
        raise LifecycleError("no such directory", source=str(d))
    parsed = []
    for p in sorted([*d.glob("*.yaml"), *d.glob("*.json")]):
        try:
            data = parse_document(p.read_bytes(), source=str(p))
        except OSError as exc:
            raise LifecycleError(f"cannot read: {exc.strerror}", source=str(p)) from None
        ev = data.get("event") if isinstance(data, Mapping) else None
        day = ev.get("date") if isinstance(ev, Mapping) else None
        parsed.append((str(day), str(p), data))
    current = agreements
    for _, src, data in sorted(parsed):
        doc = verify_document(data, current, keys, source=src)
        current = apply_documents(current, [doc])
    return current


def record(raw: bytes, doc: LifecycleDocument, directory: str | Path) -> Path:
    """Store a verified document's bytes in an event store, durably (temp file, fsync, rename).

    Raises:
        LifecycleError: the same document is already recorded.
    """
    import os
    import tempfile

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if any(doc.digest[:12] in p.name for p in d.iterdir()):
        raise LifecycleError("already recorded in the event store", source=doc.source)
    target = d / f"{doc.event.on.isoformat()}-{doc.agreement}-{doc.event.type.value}-{doc.digest[:12]}.yaml"
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def effective_day(doc: LifecycleDocument, agreements: AgreementSet) -> date:
    """The day the document changes what may be released: a notice's expiry, else its own date."""
    if doc.event.type is EventType.NOTICE_OF_TERMINATION:
        ag = agreements.get(doc.agreement)
        assert ag is not None
        return doc.event.effective or ag.lifecycle.expiry_after_notice(doc.event.on)
    return doc.event.on


def day_before(d: date) -> date:
    """The previous day."""
    return d - timedelta(days=1)
