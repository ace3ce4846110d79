"""Agreement documents: one YAML file per agreement (schema in ``docs/agreements.md``).

:func:`load_agreements` reads a directory (the bundled agreements by default). Every file is
parsed and checked before anything is returned, so a bad document gives a clear error (file,
field, what is wrong) and nothing loads half.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from accord.core.agreements import (
    CONCERNS,
    Agreement,
    AgreementSet,
    Citation,
    EquivalenceRow,
    Event,
    EventType,
    Kind,
    LegalStatus,
    Lifecycle,
    Terms,
)
from accord.core.parties import is_alpha3
from accord.core.schemes import SchemeRegistry
from accord.errors import AgreementError, InputError
from accord.formats._dates import document_day
from accord.formats._yaml import load_yaml

_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
_TOPIC = re.compile(r"[A-Z0-9][A-Z0-9._/-]{0,63}")

#: Bounds of the lifecycle numbers (the sane range: no treaty runs a term of more than a century or asks
#: more than ten years' notice); with the day range of :mod:`accord.formats._dates` they keep every lifecycle
#: computation (anniversaries, notice expiry) inside Python's calendar.
MAX_TERM_YEARS = 100
MAX_NOTICE_DAYS = 3650
#: Largest agreement document read (the bundled ones are a few KiB).
MAX_DOCUMENT_BYTES = 1024 * 1024

_TOP_KEYS = {
    "id",
    "title",
    "kind",
    "parties",
    "hub",
    "legal_status",
    "onward_release_requires_consent",
    "scope",
    "equivalence",
    "protection_basis",
    "min_suite",
    "citations",
    "lifecycle",
    "provenance",
    "sources",
    "based_on",
}
_REQUIRED = {
    "id",
    "title",
    "kind",
    "parties",
    "legal_status",
    "onward_release_requires_consent",
    "scope",
    "equivalence",
    "lifecycle",
}
_LIFE_KEYS = {"signed", "in_force", "term_years", "auto_renewal", "notice_days", "events"}
_EVENT_KEYS = {"date", "type", "note", "by", "effective", "terms", "sourced", "source"}


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, field: str, message: str) -> AgreementError:
        return AgreementError(message, source=self.source, field=field)

    def mapping(
        self, value: Any, field: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.err(field or "(document)", f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.err(
                field or "(document)", f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        missing = sorted(required - set(value))
        if missing:
            where = f"{field}." if field else ""
            raise self.err(f"{where}{missing[0]}", "required field is missing")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.err(field, "expected a non-empty string")
        return value.strip()

    def day(self, value: Any, field: str, *, optional: bool = False) -> date | None:
        return document_day(value, source=self.source, field=field, optional=optional, error=AgreementError)

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.err(field, f"expected true or false, got {value!r}")
        return value

    def integer(self, value: Any, field: str, *, most: int, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40]) + "…"
            raise self.err(field, f"expected a positive integer up to {most}, got {shown}")
        return value

    def party(self, value: Any, field: str, parties: tuple[str, ...] | None = None) -> str:
        if not is_alpha3(value):
            raise self.err(field, f"{value!r} is not an ISO 3166 alpha-3 code")
        if parties is not None and value not in parties:
            raise self.err(field, f"{value} is not a party to this agreement ({', '.join(parties)})")
        return str(value)


def _terms(
    ctx: _Ctx, scope: Any, equivalence: Any, parties: tuple[str, ...], field: str, schemes: SchemeRegistry
) -> Terms:
    pre = f"{field}." if field else ""
    scope_map = ctx.mapping(scope, f"{pre}scope", {"topics", "description"}, {"topics"})
    raw_topics = scope_map["topics"]
    topics: frozenset[str] | None
    if raw_topics == "all":
        topics = None
    elif isinstance(raw_topics, list) and raw_topics:
        for i, t in enumerate(raw_topics):
            if not isinstance(t, str) or not _TOPIC.fullmatch(t):
                raise ctx.err(f"{pre}scope.topics[{i}]", f"{t!r} is not an upper-case topic token")
        topics = frozenset(raw_topics)
    else:
        raise ctx.err(f"{pre}scope.topics", "expected 'all' or a non-empty list of topics")
    if not isinstance(equivalence, list) or not equivalence:
        raise ctx.err(
            f"{pre}equivalence", "expected a non-empty list of rows (levels not in the table are not covered)"
        )
    rows: list[EquivalenceRow] = []
    seen: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(equivalence):
        f = f"{pre}equivalence[{i}]"
        row = ctx.mapping(raw, f, {"name", "levels"}, {"name", "levels"})
        name = ctx.string(row["name"], f"{f}.name")
        levels_raw = row["levels"]
        if not isinstance(levels_raw, Mapping) or len(levels_raw) < 2:
            raise ctx.err(f"{f}.levels", "expected a mapping of at least two parties to their level")
        levels: dict[str, str] = {}
        for party, text in levels_raw.items():
            fp = f"{f}.levels.{party}"
            ctx.party(party, fp, parties)
            scheme = schemes.get(party)
            if scheme is None:
                raise ctx.err(fp, f"no national policy (SPIF) is loaded for {party}")
            level = scheme.level(str(text))
            if level is None:
                known = ", ".join(lv.marking for lv in scheme.levels)
                raise ctx.err(fp, f"{text!r} is not a level of {party}'s scheme (known: {known})")
            if (party, level.key) in seen:
                raise ctx.err(fp, f"{level.marking} already appears in row {seen[(party, level.key)]}")
            seen[(party, level.key)] = i
            levels[party] = level.key
        rows.append(EquivalenceRow(name=name, levels=levels))
    return Terms(topics=topics, equivalence=tuple(rows))


def parse_agreement(data: Any, *, source: str, schemes: SchemeRegistry | None = None) -> Agreement:
    """Build an :class:`Agreement` from a parsed document; raise :class:`AgreementError` if invalid.

    Levels are checked against ``schemes`` (the bundled nations when None).
    """
    ctx = _Ctx(source)
    if schemes is None:
        from accord.formats.spif import bundled_registry

        schemes = bundled_registry()
    doc = ctx.mapping(data, "", _TOP_KEYS, _REQUIRED)
    agreement_id = ctx.string(doc["id"], "id")
    if not _ID.fullmatch(agreement_id):
        raise ctx.err("id", f"{agreement_id!r} must be lower-case letters, digits and hyphens")
    title = ctx.string(doc["title"], "title")
    kind, parties, hub = _parties(ctx, doc)
    try:
        legal = LegalStatus(doc["legal_status"])
    except ValueError:
        raise ctx.err(
            "legal_status", f"{doc['legal_status']!r} is not one of: {', '.join(s.value for s in LegalStatus)}"
        ) from None
    consent = ctx.boolean(doc["onward_release_requires_consent"], "onward_release_requires_consent")
    terms = _terms(ctx, doc["scope"], doc["equivalence"], parties, "", schemes)

    basis_raw = doc.get("protection_basis", [])
    if not isinstance(basis_raw, list) or not all(isinstance(b, str) for b in basis_raw):
        raise ctx.err("protection_basis", "expected a list of agreement ids")
    if not isinstance(doc.get("min_suite", ""), str):
        raise ctx.err("min_suite", f"expected the name of a sealing suite, got {doc['min_suite']!r}")
    min_suite = doc.get("min_suite")
    if min_suite is not None:
        from accord.formats.suite_ids import SUITE_IDS

        if min_suite not in SUITE_IDS:
            raise ctx.err("min_suite", f"{min_suite!r} is not a sealing suite ({', '.join(sorted(SUITE_IDS))})")
    based_on = doc.get("based_on")
    if based_on is not None and (
        not isinstance(based_on, str) or not _ID.fullmatch(based_on) or based_on == agreement_id
    ):
        raise ctx.err("based_on", f"{based_on!r} is not the id of another agreement")
    citations = _citations(ctx, doc)

    lifecycle = _lifecycle(ctx, doc["lifecycle"], parties, schemes)
    prov_raw = doc.get("provenance", {})
    if not isinstance(prov_raw, Mapping) or not all(isinstance(v, str) for v in prov_raw.values()):
        raise ctx.err("provenance", "expected a mapping of field to text (sourced or assumed, and why)")
    return Agreement(
        id=agreement_id,
        title=title,
        kind=kind,
        parties=parties,
        hub=hub,
        terms=terms,
        onward_release_requires_consent=consent,
        legal_status=legal,
        lifecycle=lifecycle,
        protection_basis=tuple(basis_raw),
        min_suite=min_suite,
        citations=citations,
        provenance={str(k): v for k, v in prov_raw.items()},
        source=source,
        schemes=schemes,
        based_on=based_on,
    )


def _parties(ctx: _Ctx, doc: Mapping[str, Any]) -> tuple[Kind, tuple[str, ...], str | None]:
    """The kind, the parties (sorted, each once, two for a bilateral, three or more otherwise) and the hub."""
    try:
        kind = Kind(doc["kind"])
    except ValueError:
        raise ctx.err("kind", f"{doc['kind']!r} is not one of: bilateral, multilateral") from None
    raw_parties = doc["parties"]
    if not isinstance(raw_parties, list):
        raise ctx.err("parties", "expected a list of alpha-3 codes")
    parties = tuple(sorted(ctx.party(p, f"parties[{i}]") for i, p in enumerate(raw_parties)))
    if len(set(parties)) != len(parties):
        raise ctx.err("parties", "a party is listed twice")
    if kind is Kind.BILATERAL and len(parties) != 2:
        raise ctx.err("parties", f"a bilateral agreement has exactly two parties, not {len(parties)}")
    if kind is Kind.MULTILATERAL and len(parties) < 3:
        raise ctx.err("parties", "a multilateral arrangement has at least three parties")
    hub = doc.get("hub")
    if hub is not None:
        if kind is Kind.BILATERAL:
            raise ctx.err("hub", "a bilateral agreement has no hub")
        hub = ctx.party(hub, "hub", parties)
    return kind, parties, hub


def _citations(ctx: _Ctx, doc: Mapping[str, Any]) -> dict[str, Citation]:
    """The article (and rule id) an agreement cites for each concern."""
    citations: dict[str, Citation] = {}
    cit_raw = doc.get("citations", {})
    cit_map = ctx.mapping(cit_raw, "citations", set(CONCERNS))
    for concern, value in cit_map.items():
        c = ctx.mapping(value, f"citations.{concern}", {"article", "rule"}, {"article"})
        rule = c.get("rule")
        if rule is not None and not isinstance(rule, str):
            raise ctx.err(f"citations.{concern}.rule", "expected a rule id such as JK-R6")
        citations[concern] = Citation(ctx.string(c["article"], f"citations.{concern}.article"), rule)
    return citations


def _lifecycle(ctx: _Ctx, raw_life: Any, parties: tuple[str, ...], schemes: SchemeRegistry) -> Lifecycle:
    """The ``lifecycle`` mapping: signature, entry into force, term, renewal, notice, dated events (in order)."""
    life = ctx.mapping(raw_life, "lifecycle", _LIFE_KEYS, {"signed", "in_force"})
    signed = ctx.day(life.get("signed"), "lifecycle.signed", optional=True)
    in_force = ctx.day(life.get("in_force"), "lifecycle.in_force", optional=True)
    if in_force is not None and signed is None:
        raise ctx.err("lifecycle.signed", "an agreement in force must have been signed")
    if in_force is not None and signed is not None and in_force < signed:
        raise ctx.err("lifecycle.in_force", f"entry into force {in_force} is before signature {signed}")
    term_years = ctx.integer(life.get("term_years"), "lifecycle.term_years", most=MAX_TERM_YEARS, optional=True)
    auto_renewal = ctx.boolean(life.get("auto_renewal", False), "lifecycle.auto_renewal")
    if auto_renewal and term_years is None:
        raise ctx.err("lifecycle.auto_renewal", "automatic renewal needs a term (term_years)")
    notice_days = ctx.integer(life.get("notice_days"), "lifecycle.notice_days", most=MAX_NOTICE_DAYS, optional=True)
    raw_events = life.get("events", [])
    if not isinstance(raw_events, list):
        raise ctx.err("lifecycle.events", "expected a list of events")
    events = [
        _event(ctx, raw, f"lifecycle.events[{i}]", parties, schemes, in_force, notice_days)
        for i, raw in enumerate(raw_events)
    ]
    events.sort(key=lambda e: e.on)
    return Lifecycle(
        signed=signed,
        in_force=in_force,
        term_years=term_years,
        auto_renewal=auto_renewal,
        notice_days=notice_days,
        events=tuple(events),
    )


def _event(
    ctx: _Ctx,
    raw: Any,
    f: str,
    parties: tuple[str, ...],
    schemes: SchemeRegistry,
    in_force: date | None,
    notice_days: int | None,
) -> Event:
    """One dated lifecycle event at ``f`` (an amendment with its new terms)."""
    ev = ctx.mapping(raw, f, _EVENT_KEYS, {"date", "type"})
    on = ctx.day(ev["date"], f"{f}.date")
    assert on is not None
    try:
        etype = EventType(ev["type"])
    except ValueError:
        raise ctx.err(f"{f}.type", f"{ev['type']!r} is not one of: {', '.join(t.value for t in EventType)}") from None
    by = ctx.party(ev["by"], f"{f}.by", parties) if ev.get("by") is not None else None
    effective = ctx.day(ev.get("effective"), f"{f}.effective", optional=True)
    ev_terms = None
    if "terms" in ev:
        if etype is not EventType.AMENDED:
            raise ctx.err(f"{f}.terms", "only an amendment carries new terms")
        t = ctx.mapping(ev["terms"], f"{f}.terms", {"scope", "equivalence"}, {"scope", "equivalence"})
        ev_terms = _terms(ctx, t["scope"], t["equivalence"], parties, f"{f}.terms", schemes)
    if etype is EventType.NOTICE_OF_TERMINATION and effective is None and notice_days is None:
        raise ctx.err(f"{f}.effective", "a notice of termination needs an effective date or lifecycle.notice_days")
    if etype is not EventType.SIGNING_ABORTED and in_force is not None and on < in_force:
        raise ctx.err(f"{f}.date", f"{etype.value} on {on} is before entry into force {in_force}")
    if effective is not None and effective < on:
        raise ctx.err(f"{f}.effective", f"effective {effective} is before the event {on}")
    note = ev.get("note", "")
    if not isinstance(note, str):
        raise ctx.err(f"{f}.note", "expected text")
    sourced = ctx.boolean(ev.get("sourced", True), f"{f}.sourced")
    return Event(on=on, type=etype, note=note.strip(), by=by, effective=effective, terms=ev_terms, sourced=sourced)


def parse_agreement_text(text: str | bytes, *, source: str, schemes: SchemeRegistry | None = None) -> Agreement:
    """Parse one agreement document from YAML text."""
    try:
        data = load_yaml(text, source=source)
    except InputError as exc:
        raise AgreementError(exc.message, source=source) from None
    return parse_agreement(data, source=source, schemes=schemes)


def build_set(agreements: list[Agreement]) -> AgreementSet:
    """Check cross-document references, then build the set (raises :class:`AgreementError`)."""
    ids: dict[str, Agreement] = {}
    for ag in agreements:
        if ag.id in ids:
            raise AgreementError(f"id {ag.id!r} is also used by {ids[ag.id].source}", source=ag.source, field="id")
        ids[ag.id] = ag
    for ag in agreements:
        for i, ref in enumerate(ag.protection_basis):
            other = ids.get(ref)
            if other is None:
                raise AgreementError(
                    f"no agreement with id {ref!r} is loaded", source=ag.source, field=f"protection_basis[{i}]"
                )
            if not set(other.parties) <= set(ag.parties):
                raise AgreementError(
                    f"{ref} has parties outside this arrangement", source=ag.source, field=f"protection_basis[{i}]"
                )
        if ag.based_on is not None:
            base = ids.get(ag.based_on)
            if base is None:
                raise AgreementError(
                    f"no agreement with id {ag.based_on!r} is loaded", source=ag.source, field="based_on"
                )
            if not set(ag.parties) <= set(base.parties):
                raise AgreementError(
                    f"{ag.based_on} does not bind every party of this arrangement", source=ag.source, field="based_on"
                )
    return AgreementSet(agreements)


def bundled_dir() -> Path:
    """The directory of the agreements shipped with Accord."""
    return Path(str(resources.files("accord") / "data" / "agreements"))


def load_agreements(path: str | Path | None = None, *, schemes: SchemeRegistry | None = None) -> AgreementSet:
    """Load every ``*.yaml``/``*.yml`` agreement in ``path`` (the bundled ones when None).

    Without ``schemes``, ``path`` is a world (:func:`accord.formats.world.load_world`: the national
    SPIFs and the agreements, checked against each other).

    Raises:
        AgreementError: a document is invalid, two share an id, or a reference is dangling;
            nothing is loaded.
    """
    if schemes is None:
        from accord.formats.world import load_world

        return load_world(path)
    directory = bundled_dir() if path is None else Path(path)
    if directory.is_file():
        files = [directory]
    elif directory.is_dir():
        files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    else:
        raise AgreementError("no such file or directory", source=str(directory))
    if not files:
        raise AgreementError("no agreement documents (*.yaml) found", source=str(directory))
    parsed: list[Agreement] = []
    for f in files:
        try:
            text = f.read_bytes()
        except OSError as exc:
            raise AgreementError(f"cannot read: {exc.strerror}", source=str(f)) from None
        parsed.append(parse_agreement_text(text, source=str(f), schemes=schemes))
    return build_set(parsed)
