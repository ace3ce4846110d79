"""Storage of the people register, visits, local accounts (argon2id) and console sessions.

Tables (own metadata, created in the node's database beside the node's schema): ``people``, ``visits``,
``console_sessions``. Every change is written in one transaction with its journal event (``person`` or
``visit``), so the audit log records who changed whom, when and by whom -- never a password or its hash.
Session tokens are stored as SHA-256 digests only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, Column, DateTime, Engine, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import Connection

from accord.core.people import Employment, Member, Role, Visit
from accord.core.persons import Person
from accord.core.schemes import scheme_for
from accord.errors import InputError

people_metadata = MetaData()

people = Table(
    "people",
    people_metadata,
    Column("person_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("nationality", String(3), nullable=False),
    Column("clearance", String(100)),
    Column("clearance_until", String(10)),
    Column("need_to_know_json", Text, nullable=False),
    Column("employment", String(16), nullable=False),
    Column("employer", String(200)),
    Column("facility", String(200)),
    Column("facility_cleared_until", String(10)),
    Column("briefed_on", String(10)),
    Column("roles_json", Text, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("password_hash", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

visits = Table(
    "visits",
    people_metadata,
    Column("visit_id", String(100), primary_key=True),
    Column("person_id", String(100), nullable=False, index=True),
    Column("host", String(3), nullable=False),
    Column("highest", String(100), nullable=False),
    Column("topics_json", Text, nullable=False),
    Column("start_day", String(10), nullable=False),
    Column("end_day", String(10), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("approved_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "console_sessions",
    people_metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("person_id", String(100), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("visit_id", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False),
)

#: journal(conn, type, item_id, body): writes one custody/audit event in the caller's transaction.
Journal = Callable[[Connection, str, "str | None", dict[str, Any]], None]
Tx = Callable[[], AbstractContextManager[Connection]]

MIN_PASSWORD = 12
_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters
# A hash to verify against when the user does not exist, so both paths cost the same (no user enumeration).
_DUMMY = _hasher.hash("accord-no-such-user-" + secrets.token_hex(8))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _day(v: str | None) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def check_password(password: str) -> str:
    """A password long enough to be one (exit with a clear error otherwise)."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password has at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 1024:
        raise InputError("a password has at most 1024 characters", field="password")
    return password


def check_clearance(nationality: str, clearance: str | None) -> str | None:
    """The canonical marking of ``clearance`` in the nationality's scheme (refuse an unknown level)."""
    if clearance is None or clearance == "":
        return None
    scheme = scheme_for(nationality)
    level = scheme.level(clearance) if scheme is not None else None
    if level is None:
        known = ", ".join(lv.marking for lv in scheme.levels) if scheme is not None else "none"
        raise InputError(f"{clearance!r} is not a level of {nationality}'s scheme (known: {known})", field="clearance")
    return level.marking


@dataclass(frozen=True)
class SessionInfo:
    """A live console session."""

    person: Member
    csrf: str
    visit: Visit | None
    expires_at: dt.datetime


class Register:
    """The people register of one node, over its database (``tx`` and ``journal`` come from the node)."""

    def __init__(self, engine: Engine, tx: Tx, journal: Journal, party: str) -> None:
        self.engine = engine
        self._tx = tx
        self._journal = journal
        self.party = party
        people_metadata.create_all(engine)

    # -- people ------------------------------------------------------------------------------------

    @staticmethod
    def _member(r: Any) -> Member:
        person = Person(
            id=r["person_id"],
            nationality=r["nationality"],
            clearance=r["clearance"],
            need_to_know=frozenset(json.loads(r["need_to_know_json"])),
            clearance_until=_day(r["clearance_until"]),
        )
        return Member(
            person=person,
            name=r["name"],
            employment=Employment(r["employment"]),
            employer=r["employer"],
            facility=r["facility"],
            facility_cleared_until=_day(r["facility_cleared_until"]),
            briefed_on=_day(r["briefed_on"]),
            roles=frozenset(Role(x) for x in json.loads(r["roles_json"])),
            disabled=bool(r["disabled"]),
        )

    def _row(self, conn: Connection, pid: str) -> Any:
        return conn.execute(select(people).where(people.c.person_id == pid)).mappings().first()

    def get(self, pid: str) -> Member | None:
        """The member ``pid``, or None."""
        with self.engine.connect() as conn:
            r = self._row(conn, pid)
        return self._member(r) if r is not None else None

    def members(self) -> list[Member]:
        """Every member, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(people).order_by(people.c.person_id)).mappings().all()
        return [self._member(r) for r in rows]

    def by_id(self) -> dict[str, Member]:
        """Every member, keyed by id."""
        return {m.id: m for m in self.members()}

    def add(self, member: Member, *, by: str, password: str | None = None) -> Member:
        """Register a person (refuses a duplicate id); ``by`` is who did it (audited)."""
        marking = check_clearance(member.person.nationality, member.person.clearance)
        if marking != member.person.clearance:
            member = replace(member, person=replace(member.person, clearance=marking))
        pw_hash = _hasher.hash(check_password(password)) if password is not None else None
        t = _now()
        with self._tx() as conn:
            if self._row(conn, member.id) is not None:
                raise InputError(f"{member.id} is already registered", field="id")
            conn.execute(people.insert().values(**self._values(member), password_hash=pw_hash, created_at=t))
            self._journal(
                conn,
                "person",
                None,
                {"action": "add", "by": by, "person": member.to_dict(), "account": pw_hash is not None},
            )
        return member

    @staticmethod
    def _values(m: Member) -> dict[str, Any]:
        p = m.person
        return {
            "person_id": p.id,
            "name": m.name,
            "nationality": p.nationality,
            "clearance": p.clearance,
            "clearance_until": _iso(p.clearance_until),
            "need_to_know_json": json.dumps(sorted(p.need_to_know)),
            "employment": m.employment.value,
            "employer": m.employer,
            "facility": m.facility,
            "facility_cleared_until": _iso(m.facility_cleared_until),
            "briefed_on": _iso(m.briefed_on),
            "roles_json": json.dumps(sorted(r.value for r in m.roles)),
            "disabled": m.disabled,
            "updated_at": _now(),
        }

    def _change(self, pid: str, action: str, by: str, fn: Callable[[Member], Member], **extra: Any) -> Member:
        with self._tx() as conn:
            r = self._row(conn, pid)
            if r is None:
                raise InputError(f"no person {pid} in the register", field="person")
            before = self._member(r)
            after = fn(before)
            conn.execute(update(people).where(people.c.person_id == pid).values(**self._values(after)))
            changed = {k: v for k, v in after.to_dict().items() if before.to_dict().get(k) != v}
            self._journal(
                conn, "person", None, {"action": action, "by": by, "person_id": pid, "changed": changed, **extra}
            )
        return after

    def set_clearance(self, pid: str, clearance: str | None, until: dt.date | None, *, by: str) -> Member:
        """Grant, change or withdraw (None) a person's PSC and its expiry."""

        def fn(m: Member) -> Member:
            marking = check_clearance(m.person.nationality, clearance)
            return replace(m, person=replace(m.person, clearance=marking, clearance_until=until))

        return self._change(pid, "set-clearance", by, fn)

    def set_need_to_know(self, pid: str, topics: frozenset[str], *, by: str) -> Member:
        """Replace the need-to-know topics."""
        return self._change(
            pid,
            "set-need-to-know",
            by,
            lambda m: replace(
                m,
                person=Person(
                    m.person.id,
                    m.person.nationality,
                    m.person.clearance,
                    topics,
                    m.person.clearance_until,
                    m.person.rank,
                ),
            ),
        )

    def set_roles(self, pid: str, roles: frozenset[Role], *, by: str) -> Member:
        """Replace the console roles."""
        return self._change(pid, "set-roles", by, lambda m: replace(m, roles=roles))

    def set_contractor(
        self, pid: str, *, facility_cleared_until: dt.date | None, briefed_on: dt.date | None, by: str
    ) -> Member:
        """Record a contractor facility's clearance and the person's briefing (JK-R25)."""

        def fn(m: Member) -> Member:
            if m.employment is not Employment.CONTRACTOR and facility_cleared_until is not None:
                raise InputError(f"{pid} is not a contractor", field="facility")
            return replace(m, facility_cleared_until=facility_cleared_until, briefed_on=briefed_on)

        return self._change(pid, "set-contractor", by, fn)

    def disable(self, pid: str, *, by: str, reason: str = "") -> Member:
        """Withdraw access (the record stays; sessions end)."""
        m = self._change(pid, "disable", by, lambda m: replace(m, disabled=True), reason=reason)
        with self._tx() as conn:
            conn.execute(update(sessions).where(sessions.c.person_id == pid).values(revoked=True))
        return m

    def enable(self, pid: str, *, by: str) -> Member:
        """Restore access."""
        return self._change(pid, "enable", by, lambda m: replace(m, disabled=False))

    def set_password(self, pid: str, password: str, *, by: str) -> None:
        """Set a local account's password (argon2id); the event records that it changed, not what to."""
        pw_hash = _hasher.hash(check_password(password))
        with self._tx() as conn:
            if self._row(conn, pid) is None:
                raise InputError(f"no person {pid} in the register", field="person")
            conn.execute(
                update(people).where(people.c.person_id == pid).values(password_hash=pw_hash, updated_at=_now())
            )
            self._journal(conn, "person", None, {"action": "set-password", "by": by, "person_id": pid})

    def authenticate(self, pid: str, password: str) -> Member | None:
        """The member when the password matches and the member is enabled (same cost for unknown ids)."""
        with self.engine.connect() as conn:
            r = self._row(conn, pid)
        stored = r["password_hash"] if r is not None else None
        try:
            _hasher.verify(stored or _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if r is None or stored is None:
            return None
        m = self._member(r)
        if _hasher.check_needs_rehash(stored):
            with self._tx() as conn:
                conn.execute(
                    update(people).where(people.c.person_id == pid).values(password_hash=_hasher.hash(password))
                )
        return None if m.disabled else m

    # -- visits (JK-R18) ---------------------------------------------------------------------------

    def add_visit(self, visit: Visit, *, by: str) -> Visit:
        """Record a visit the host authorized; the visitor must be registered and foreign."""
        if visit.host != self.party:
            raise InputError(f"visits here are hosted by {self.party}", field="host")
        with self._tx() as conn:
            r = self._row(conn, visit.person)
            if r is None:
                raise InputError(f"no person {visit.person} in the register", field="person")
            if r["nationality"] == self.party:
                raise InputError(f"{visit.person} is a {self.party} national, not a visitor", field="person")
            if conn.execute(select(visits).where(visits.c.visit_id == visit.id)).first() is not None:
                raise InputError(f"visit {visit.id} already exists", field="id")
            conn.execute(
                visits.insert().values(
                    visit_id=visit.id,
                    person_id=visit.person,
                    host=visit.host,
                    highest=visit.highest,
                    topics_json=json.dumps(sorted(visit.topics)),
                    start_day=visit.start.isoformat(),
                    end_day=visit.end.isoformat(),
                    purpose=visit.purpose,
                    approved_by=visit.approved_by,
                    created_at=_now(),
                )
            )
            self._journal(conn, "visit", None, {"action": "add", "by": by, "visit": visit.to_dict()})
        return visit

    def visits(self, pid: str | None = None) -> list[Visit]:
        """Visits (of one person), by start day."""
        q = select(visits).order_by(visits.c.start_day, visits.c.visit_id)
        if pid is not None:
            q = q.where(visits.c.person_id == pid)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            Visit(
                id=r["visit_id"],
                person=r["person_id"],
                host=r["host"],
                highest=r["highest"],
                topics=frozenset(json.loads(r["topics_json"])),
                start=dt.date.fromisoformat(r["start_day"]),
                end=dt.date.fromisoformat(r["end_day"]),
                purpose=r["purpose"],
                approved_by=r["approved_by"],
            )
            for r in rows
        ]

    # -- console sessions --------------------------------------------------------------------------

    def open_session(self, member: Member, *, ttl: dt.timedelta, visit: Visit | None = None) -> tuple[str, str]:
        """A new session: (token for the cookie, CSRF token). Only the token's digest is stored."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        t = _now()
        with self._tx() as conn:
            conn.execute(
                sessions.insert().values(
                    token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                    person_id=member.id,
                    csrf=csrf,
                    visit_id=visit.id if visit else None,
                    created_at=t,
                    expires_at=t + ttl,
                    revoked=False,
                )
            )
            self._journal(
                conn,
                "person",
                None,
                {"action": "sign-in", "by": member.id, "person_id": member.id, "visit": visit.id if visit else None},
            )
        return token, csrf

    def session(self, token: str) -> SessionInfo | None:
        """The live session of ``token`` (None when unknown, expired, revoked, or the person disabled)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.engine.connect() as conn:
            r = conn.execute(select(sessions).where(sessions.c.token_sha256 == digest)).mappings().first()
            if r is None or r["revoked"] or _aware(r["expires_at"]) <= _now():
                return None
            p = self._row(conn, r["person_id"])
        if p is None:
            return None
        m = self._member(p)
        if m.disabled:
            return None
        visit = None
        if r["visit_id"]:
            visit = next((v for v in self.visits(m.id) if v.id == r["visit_id"]), None)
            if visit is None or not visit.active(_now().date()):  # a visitor's session ends with the visit
                return None
        return SessionInfo(m, r["csrf"], visit, _aware(r["expires_at"]))

    def close_session(self, token: str) -> None:
        """Sign out."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._tx() as conn:
            conn.execute(update(sessions).where(sessions.c.token_sha256 == digest).values(revoked=True))


def iter_roles(values: Iterator[str] | list[str]) -> frozenset[Role]:
    """Roles from their names (refuse an unknown one)."""
    out = set()
    for v in values:
        try:
            out.add(Role(v.strip()))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise InputError(f"unknown role {v!r} (known: {known})", field="roles") from None
    return frozenset(out)
