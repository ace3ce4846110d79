"""A world: the national policies (SPIFs) and the agreements between them, loaded and checked together.

Layout of a world directory (``docs/spif.md``)::

    DIR/spif/*.xml                       one SPIF per nation (added to the bundled KOR, JPN, USA)
    DIR/agreements/*.yaml                the agreements (or *.yaml directly in DIR)
    DIR/equivalence/<agreement>/*.xml    optional: an agreement's equivalence as SPIF equivalent policies

Adding a nation and its agreements is adding files. Everything is parsed and cross-checked before
anything is returned: a nation defined twice with different content, an agreement naming a
nation without a SPIF or a level the SPIF does not have, or a SPIF equivalence that contradicts an
agreement's equivalence table is refused with ``file: field: problem``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from accord.core.agreements import Agreement, AgreementSet, Terms
from accord.core.schemes import Level, Scheme, SchemeRegistry
from accord.errors import AgreementError, SpifError
from accord.formats._yaml import load_yaml
from accord.formats.agreement_yaml import build_set, bundled_dir, parse_agreement_text
from accord.formats.spif import Spif, bundled_spif_dir, bundled_spifs, load_spifs, write_spif


def _same_scheme(a: Scheme, b: Scheme) -> str | None:
    """What differs between two definitions of one nation's scheme, or None."""
    if len(a.levels) != len(b.levels):
        return f"{len(b.levels)} classifications, not {len(a.levels)}"
    for x, y in zip(a.levels, b.levels, strict=True):
        if not x.same_as(y):
            return f"classification {y.marking!r} (key {y.key}) differs from {x.marking!r} (key {x.key})"
    return None


def world_registry(spifs: Iterable[Spif]) -> SchemeRegistry:
    """The bundled nations plus ``spifs``; a bundled nation may be repeated only with the same levels."""
    base = {s.scheme.party: s for s in bundled_spifs()}
    extra: dict[str, Spif] = {}
    for sp in spifs:
        party = sp.scheme.party
        if party in base:
            diff = _same_scheme(base[party].scheme, sp.scheme)
            if diff is not None:
                raise SpifError(
                    f"{party} contradicts the bundled policy {base[party].source}: {diff}",
                    source=sp.source,
                    field="securityClassifications",
                )
            continue
        if party in extra:
            raise SpifError(
                f"{party} is already defined by {extra[party].source}", source=sp.source, field="securityPolicyId/@name"
            )
        extra[party] = sp
    return SchemeRegistry([*(s.scheme for s in base.values()), *(s.scheme for s in extra.values())])


def check_equivalences(spif: Spif, aset: AgreementSet, *, agreement: str | None = None) -> None:
    """Refuse a SPIF whose equivalent classifications contradict the agreements' equivalence tables.

    Each ``equivalentClassification`` (level L of the SPIF's nation A → lacv X of policy B) must be
    what an agreement between A and B says: some version of its table (as signed, or amended) puts
    L and B's level X in one row. When the SPIF names its agreement (``docRefURI``, or
    ``equivalence/<agreement>/``), only that agreement counts.
    """
    schemes = aset.schemes
    a = spif.scheme.party
    for eq in spif.equivalences:
        where = eq.field
        ref = eq.agreement or agreement
        if agreement is not None and eq.agreement is not None and eq.agreement != agreement:
            raise SpifError(
                f"names agreement {eq.agreement} inside equivalence/{agreement}/",
                source=spif.source,
                field=f"{where}/@policyRef",
            )
        target_scheme = schemes.get(eq.policy)
        if target_scheme is None:
            raise SpifError(
                f"equivalent policy {eq.policy} has no SPIF in this world",
                source=spif.source,
                field=f"{where}/@policyRef",
            )
        target = target_scheme.by_lacv(eq.lacv)
        if target is None:
            raise SpifError(
                f"{eq.policy} has no classification with lacv {eq.lacv}", source=spif.source, field=f"{where}/@lacv"
            )
        candidates: list[Agreement]
        if ref is not None:
            ag = aset.get(ref)
            if ag is None:
                raise SpifError(f"no agreement {ref!r} is loaded", source=spif.source, field=f"{where}/@policyRef")
            if a not in ag.parties or eq.policy not in ag.parties:
                raise SpifError(
                    f"{ref} is not between {a} and {eq.policy}", source=spif.source, field=f"{where}/@policyRef"
                )
            candidates = [ag]
        else:
            candidates = [ag for ag in aset if a in ag.parties and eq.policy in ag.parties]
        mapped: list[tuple[Agreement, str, str]] = []  # (agreement, row name, B key)
        for ag in candidates:
            versions = [ag.terms, *(e.terms for e in ag.lifecycle.events if e.terms is not None)]
            for terms in versions:
                row = terms.row_for(eq.level)
                if row is not None and eq.policy in row.levels:
                    mapped.append((ag, row.name, row.levels[eq.policy]))
        if not mapped:
            scope = f"the {ref}" if ref else f"any agreement between {a} and {eq.policy}"
            raise SpifError(
                f"{eq.level.marking} → {target.marking} ({eq.policy}) is not in the equivalence "
                f"table of {scope}: the SPIF contradicts the agreement",
                source=spif.source,
                field=where,
            )
        if not any(key == target.key for _, _, key in mapped):
            first, row_name, key = mapped[0]
            said = target_scheme.by_key(key)
            raise SpifError(
                f"{eq.level.marking} → {target.marking} ({eq.policy}) contradicts the {first.id} "
                f"equivalence table, which maps it to {said.marking if said else key} (row {row_name})",
                source=spif.source,
                field=f"{where}/@lacv",
            )


def _includes_bundled(path: Path) -> bool:
    """Whether ``DIR/world.yaml`` (optional) says the world includes the bundled agreements."""
    manifest = path / "world.yaml"
    if not manifest.is_file():
        return False
    try:
        doc = load_yaml(manifest.read_bytes(), source=str(manifest))
    except OSError as exc:
        raise AgreementError(f"cannot read: {exc.strerror}", source=str(manifest)) from None
    if not isinstance(doc, dict) or set(doc) - {"include"}:
        raise AgreementError("expected a mapping with only 'include'", source=str(manifest), field="(document)")
    include = doc.get("include", [])
    if not isinstance(include, list) or any(i != "bundled" for i in include):
        raise AgreementError(
            "expected a list whose only possible item is 'bundled'", source=str(manifest), field="include"
        )
    return bool(include)


def _layout(path: Path | None) -> tuple[list[Path], Path | None, Path | None]:
    """(agreement files, spif dir or None, equivalence dir or None) of a world path."""
    if path is None:
        return _yaml_files(bundled_dir()), None, None
    if path.is_file():
        return [path], None, None
    if not path.is_dir():
        raise AgreementError("no such file or directory", source=str(path))
    agreements = path / "agreements" if (path / "agreements").is_dir() else path
    files = _yaml_files(agreements)
    if _includes_bundled(path):
        files = _yaml_files(bundled_dir()) + files
    if not files:
        raise AgreementError("no agreement documents (*.yaml) found", source=str(agreements))
    spif = path / "spif" if (path / "spif").is_dir() else None
    if spif is not None and spif.resolve() == bundled_spif_dir().resolve():
        spif = None
    equivalence = path / "equivalence" if (path / "equivalence").is_dir() else None
    return files, spif, equivalence


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(f for f in [*directory.glob("*.yaml"), *directory.glob("*.yml")] if f.name != "world.yaml")


def load_world(path: str | Path | None = None) -> AgreementSet:
    """Load and cross-check a world (the bundled agreements and nations when None).

    Raises:
        AgreementError: (or :class:`SpifError`) the first problem, as ``file: field: problem``;
            nothing is loaded.
    """
    files, spif_dir, eq_dir = _layout(None if path is None else Path(path))
    spifs = load_spifs(spif_dir) if spif_dir is not None else []
    registry = world_registry(spifs)
    parsed: list[Agreement] = []
    for f in files:
        try:
            text = f.read_bytes()
        except OSError as exc:
            raise AgreementError(f"cannot read: {exc.strerror}", source=str(f)) from None
        parsed.append(parse_agreement_text(text, source=str(f), schemes=registry))
    aset = build_set(parsed)
    for sp in (*bundled_spifs(), *spifs):
        check_equivalences(sp, aset)
    if eq_dir is not None:
        for sub in sorted(p for p in eq_dir.iterdir() if p.is_dir()):
            if aset.get(sub.name) is None:
                raise SpifError(f"no agreement {sub.name!r} is loaded", source=str(sub))
            for sp in load_spifs(sub):
                if sp.scheme.party not in aset.get(sub.name).parties:  # type: ignore[union-attr]
                    raise SpifError(
                        f"{sp.scheme.party} is not a party to {sub.name}",
                        source=sp.source,
                        field="securityPolicyId/@name",
                    )
                diff = _same_scheme(registry[sp.scheme.party], sp.scheme) if sp.scheme.party in registry else None
                if diff is not None:
                    raise SpifError(
                        f"{sp.scheme.party} contradicts its policy: {diff}",
                        source=sp.source,
                        field="securityClassifications",
                    )
                check_equivalences(sp, aset, agreement=sub.name)
    return aset


# ---------------------------------------------------------------------------------------------
# Writing a world and exporting its policies


def agreement_document(ag: Agreement) -> dict[str, object]:
    """The agreement as a document :func:`accord.formats.agreement_yaml.parse_agreement` reads back."""

    def terms(t: Terms) -> tuple[dict[str, object], list[dict[str, object]]]:
        scope: dict[str, object] = {"topics": "all" if t.topics is None else sorted(t.topics)}
        return scope, [{"name": r.name, "levels": dict(r.levels)} for r in t.equivalence]

    scope, equivalence = terms(ag.terms)
    life = ag.lifecycle
    events: list[dict[str, object]] = []
    for e in life.events:
        ev: dict[str, object] = {"date": e.on.isoformat(), "type": e.type.value}
        if e.note:
            ev["note"] = e.note
        if e.by:
            ev["by"] = e.by
        if e.effective:
            ev["effective"] = e.effective.isoformat()
        if e.terms is not None:
            s, q = terms(e.terms)
            ev["terms"] = {"scope": s, "equivalence": q}
        if not e.sourced:
            ev["sourced"] = False
        events.append(ev)
    lifecycle: dict[str, object] = {
        "signed": life.signed.isoformat() if life.signed else None,
        "in_force": life.in_force.isoformat() if life.in_force else None,
    }
    if life.term_years:
        lifecycle["term_years"] = life.term_years
    if life.auto_renewal:
        lifecycle["auto_renewal"] = True
    if life.notice_days:
        lifecycle["notice_days"] = life.notice_days
    if events:
        lifecycle["events"] = events
    doc: dict[str, object] = {
        "id": ag.id,
        "title": ag.title,
        "kind": ag.kind.value,
        "parties": list(ag.parties),
        "legal_status": ag.legal_status.value,
        "onward_release_requires_consent": ag.onward_release_requires_consent,
        "scope": scope,
        "equivalence": equivalence,
    }
    if ag.hub:
        doc["hub"] = ag.hub
    if ag.protection_basis:
        doc["protection_basis"] = list(ag.protection_basis)
    if ag.min_suite:
        doc["min_suite"] = ag.min_suite
    if ag.citations:
        doc["citations"] = {
            k: ({"article": c.article, "rule": c.rule} if c.rule else {"article": c.article})
            for k, c in ag.citations.items()
        }
    doc["lifecycle"] = lifecycle
    if ag.provenance:
        doc["provenance"] = dict(ag.provenance)
    return doc


def write_world(aset: AgreementSet, out: Path) -> list[Path]:
    """Write a world as files (``spif/`` for every nation not bundled, ``agreements/``); returns the files."""
    import yaml

    bundled = {s.scheme.party for s in bundled_spifs()}
    written: list[Path] = []
    (out / "spif").mkdir(parents=True, exist_ok=True)
    (out / "agreements").mkdir(parents=True, exist_ok=True)
    for scheme in aset.schemes:
        if scheme.party in bundled:
            continue
        path = out / "spif" / f"{scheme.party}.xml"
        path.write_bytes(write_spif(scheme))
        written.append(path)
    for ag in aset:
        path = out / "agreements" / f"{ag.id}.yaml"
        path.write_text(yaml.safe_dump(agreement_document(ag), allow_unicode=True, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def equivalence_pairs(ag: Agreement, terms: Terms, party: str) -> dict[str, list[tuple[Level, Level]]]:
    """Per other party: (party's level, its equivalent there) under ``terms`` of ``ag``."""
    schemes = ag.schemes
    out: dict[str, list[tuple[Level, Level]]] = {}
    if schemes is None or party not in schemes:
        return out
    own = schemes[party]
    for row in terms.equivalence:
        mine = own.by_key(row.levels[party]) if party in row.levels else None
        if mine is None:
            continue
        for other, key in row.levels.items():
            target = schemes.get(other)
            lv = target.by_key(key) if target is not None and other != party else None
            if lv is not None:
                out.setdefault(other, []).append((mine, lv))
    return out


def export_spifs(aset: AgreementSet, out: Path, *, at: date | None = None) -> list[Path]:
    """Write each nation's SPIF (``spif/``) and, per agreement, each party's SPIF with the equivalence
    as equivalent policies (``equivalence/<agreement>/<party>.xml``; the terms in effect on ``at``,
    or as signed when None). The output is itself a world's policy part: the agreements' table and
    the exported SPIFs agree, and :func:`load_world` checks it."""
    written: list[Path] = []
    (out / "spif").mkdir(parents=True, exist_ok=True)
    for scheme in aset.schemes:
        path = out / "spif" / f"{scheme.party}.xml"
        path.write_bytes(write_spif(scheme))
        written.append(path)
    for ag in aset:
        terms = ag.terms_at(at) if at is not None else ag.terms
        sub = out / "equivalence" / ag.id
        sub.mkdir(parents=True, exist_ok=True)
        for party in ag.parties:
            own = aset.schemes.get(party)
            if own is None:
                continue
            path = sub / f"{party}.xml"
            path.write_bytes(write_spif(own, equivalences=equivalence_pairs(ag, terms, party), agreement=ag.id))
            written.append(path)
    return written
