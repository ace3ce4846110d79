"""A holder's and an originator's operations on the life of an item (issue 10): a loss or compromise in its
stages (JK-R26), derived items (JK-R5, JK-R23, JK-R24), returns and destruction reported (JK-R13), the decision
for a held or derived item, and the reads of notices and alarms. The network side is
:mod:`accord.node.flow.notices`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection

from accord.core.custody import Custody, CustodyError, CustodyState, Incident, IncidentState
from accord.core.ids import check_id
from accord.core.labels import Label
from accord.errors import InputError
from accord.formats.canonical import canonical_json
from accord.formats.custody_notice import FORMAT
from accord.node import db as st
from accord.node.db import custody_sql as db_custody
from accord.node.db import items_sql as db_items
from accord.node.db import notices_sql as db_notices
from accord.node.errors import NotFound
from accord.node.flow.notices import Notices, _status
from accord.node.policy import label_to_dict
from accord.node.results import CustodyRecorded


class CustodyOps(Notices):
    """Reports, derived items, custody changes and reads over :class:`Notices`."""

    def report_compromise(
        self, item_id: str, stage: str, note: str = "", at: dt.date | str | None = None
    ) -> dict[str, Any]:
        """Record the next stage of a loss or compromise of a held item and tell the originator at once (JK-R26):
        SUSPECTED → NOTIFIED → INVESTIGATING → REPORTED, in order; from SUSPECTED on, no release but the return."""
        try:
            to = IncidentState(stage)
        except ValueError:
            raise InputError(f"expected one of {', '.join(s.value for s in IncidentState)}", field="stage") from None
        day = self.resolve_at(at)
        with self._tx() as conn:
            rec = db_custody.get_custody(conn, item_id)
            if rec is None:
                raise NotFound(f"no custody record of {item_id} here (this nation's own items need none)")
            incident = self._incident(conn, rec)
            if incident is None:
                if to is not IncidentState.SUSPECTED:
                    raise CustodyError(f"incident {item_id}: a loss or compromise starts SUSPECTED", field="stage")
                incident = Incident.suspect(item_id, self.party, rec.originator, day, note)
            else:
                incident = incident.advance(to, day, note)  # CustodyError out of order
            if rec.state not in (CustodyState.COMPROMISED, CustodyState.FROZEN):
                new = rec.to(CustodyState.COMPROMISED)  # CustodyError when no longer held
                db_custody.update_custody(conn, new)
                self._event(conn, "custody", item_id, {"from": rec.state.value, "to": new.state.value, "note": note})
            body = {
                "format": FORMAT,
                "kind": "compromise",
                "item": item_id,
                "originator": rec.originator,
                "holder": self.party,
                "date": day.isoformat(),
                "stage": to.value,
                "note": note,
            }
            n = self._send_up(conn, rec, body, day)
            self._event(
                conn, "compromise", item_id, {"stage": to.value, "note": note, "digest": n.digest, "to": rec.originator}
            )
        return {"item": item_id, "stage": to.value, "history": _history(incident), "digest": n.digest}

    def derive_item(
        self,
        sources: list[str],
        kind: str,
        new_id: str | None = None,
        language: str | None = None,
        at: dt.date | str | None = None,
    ) -> dict[str, Any]:
        """Record a reproduction, translation or extract made here from held items (JK-R5, JK-R23, JK-R24): it
        keeps the originator and markings, at the highest level of its sources and the most restrictive
        releasability, with its lineage; a reproduction counts as a copy. The originator is told (signed)."""
        from accord.core.custody import DerivedKind, derive

        try:
            how = DerivedKind(kind)
        except ValueError:
            raise InputError(f"expected one of {', '.join(k.value for k in DerivedKind)}", field="kind") from None
        if not sources or len(sources) > 64:
            raise InputError("name 1 to 64 source items", field="sources")
        day = self.resolve_at(at)
        with self._tx() as conn:
            pairs: list[tuple[Label, Custody]] = []
            for s in sources:
                rec = db_custody.get_custody(conn, s)
                if rec is None:
                    raise NotFound(f"no custody record of {s} here: only a held item is derived from")
                pairs.append((self._effective_label(conn, s, rec), rec))
            originator = pairs[0][1].originator
            item = (
                new_id
                or f"{self.party.lower()}-{how.value}-{sources[0]}-{pairs[0][1].copies + len(pairs[0][1].derived) + 1}"
            )
            item = check_id(item, field="new_id", what="item id")
            if db_custody.get_custody(conn, item) is not None or db_items.get_item(conn, item) is not None:
                raise InputError(f"item {item} already exists here", field="new_id")
            label, rec, updated = derive(pairs, how, item, day, language=language, schemes=self.schemes)
            for u in updated:
                db_custody.update_custody(conn, u)
            db_custody.insert_derived(conn, rec, canonical_json(label_to_dict(label)).decode())
            body = {
                "format": FORMAT,
                "kind": "derived",
                "item": item,
                "originator": originator,
                "holder": self.party,
                "date": day.isoformat(),
                "sources": list(sources),
                "derivation": how.value,
                "note": f"{how.value} of {', '.join(sources)}" + (f" into {language}" if language else ""),
            }
            n = self._send_up(conn, pairs[0][1], body, day)
            self._event(
                conn,
                "derive",
                item,
                {
                    "kind": how.value,
                    "sources": list(sources),
                    "label": label_to_dict(label),
                    "copies": {u.item: u.copies for u in updated},
                    "digest": n.digest,
                },
            )
        return {"item": item, "label": label_to_dict(label), "custody": rec.to_dict(), "reported": n.digest}

    def record_custody(self, item_id: str, state: str, note: str = "") -> CustodyRecorded:
        """An officer records a change of custody of a held item (JK-R11) -- and the originator is told, in the
        same transaction: RETURNED or DESTROYED (JK-R13) as a signed report, COMPROMISED as the SUSPECTED stage
        of a loss or compromise (JK-R26, :meth:`report_compromise`). HELD again: recorded here only."""
        try:
            target = CustodyState(state)
        except ValueError:
            known = ", ".join(s.value for s in CustodyState)
            raise InputError(f"state must be one of {known}", field="state") from None
        if target is CustodyState.COMPROMISED:
            self.report_compromise(item_id, IncidentState.SUSPECTED.value, note)
            with self.store.engine.connect() as conn:
                now = db_custody.get_custody(conn, item_id)
            assert now is not None
            return CustodyRecorded(now)
        day = self.resolve_at(None)
        with self._recorded_tx(item_id, "custody") as conn:
            rec = db_custody.get_custody(conn, item_id)
            if rec is None:
                raise NotFound(f"no custody record of {item_id} here (this nation's own items need none)")
            new = rec.to(target)  # CustodyError (an InputError) for a change not allowed
            db_custody.set_custody_state(conn, item_id, new.state)
            body: dict[str, Any] = {"from": rec.state.value, "to": new.state.value, "note": note}
            if target in (CustodyState.RETURNED, CustodyState.DESTROYED):
                report = {
                    "format": FORMAT,
                    "kind": target.value.lower(),
                    "item": item_id,
                    "originator": rec.originator,
                    "holder": self.party,
                    "date": day.isoformat(),
                    "note": note,
                }
                body["reported"] = self._send_up(conn, rec, report, day).digest
            self._event(conn, "custody", item_id, body)
        return CustodyRecorded(new)

    def custody_decision(
        self, item_id: str, to: str, at: dt.date | str | None = None, purpose: str | None = None
    ) -> dict[str, Any]:
        """Whether this node may release an item it holds (received, or derived here) to ``to``, decided under
        its custody record -- a derived item by the same rules as its sources (JK-R5, JK-R6, JK-R7, JK-R26). A
        question only: nothing is released or journaled."""
        from accord.node.config import check_party

        to = check_party(to, source="request", field="to")
        day = self.resolve_at(at)
        with self.store.engine.connect() as conn:
            rec = db_custody.get_custody(conn, item_id)
            if rec is None:
                raise NotFound(f"no custody record of {item_id} here (this nation's own items need none)")
            label = self._effective_label(conn, item_id, rec)
            consents = [c for c, _ in self._held_consents(conn, self.party)]
        d = self._decision(label, self.party, to, day, consents, rec, purpose)
        return d.to_dict()

    def item_notices(self, item_id: str) -> list[dict[str, Any]]:
        """Every custody notice about ``item_id`` here, with its per-party delivery and acknowledgement."""
        with self.store.engine.connect() as conn:
            return [_status(r, db_notices.parties_of(conn, r["digest"])) for r in db_notices.notices_for(conn, item_id)]

    def custody_record(self, item_id: str) -> dict[str, Any]:
        """This node's custody record of an item it holds (received, or derived here), with its notices."""
        with self.store.engine.connect() as conn:
            rec = db_custody.get_custody(conn, item_id)
            if rec is None:
                raise NotFound(f"no custody record of {item_id} here (this nation's own items need none)")
            text = db_custody.derived_label_json(conn, item_id)
        out = rec.to_dict()
        if text is not None:
            out["label"] = json.loads(text)
        out["notices"] = self.item_notices(item_id)
        return out

    def custody_alarms(self) -> list[dict[str, Any]]:
        """Losses or compromises reported to this node, the originator (JK-R26), newest first."""
        rows = self.store.rows(st.events, st.events.c.type == "custody_alarm")
        return [{"id": r["id"], "item_id": r["item_id"], **json.loads(r["body"])} for r in reversed(rows)]

    def _incident(self, conn: Connection, rec: Custody) -> Incident | None:
        """The open incident of ``rec``'s item here, rebuilt from the compromise reports this node sent."""
        inc: Incident | None = None
        for r in db_notices.notices_for(conn, str(rec.item)):
            if r["kind"] != "compromise" or r["role"] != "sent":
                continue
            d = json.loads(r["doc"])
            stage, on, note = IncidentState(d["stage"]), dt.date.fromisoformat(d["date"]), str(d.get("note", ""))
            if inc is None or stage is IncidentState.SUSPECTED:
                inc = Incident.suspect(str(rec.item), self.party, rec.originator, on, note)
            else:
                inc = replace(inc, history=(*inc.history, (stage, on, note)))
        if inc is not None and inc.state is IncidentState.REPORTED:
            return None  # closed: a new loss opens a new incident
        return inc


def _history(inc: Incident) -> list[dict[str, str]]:
    return [{"stage": s.value, "date": d.isoformat(), "note": note} for s, d, note in inc.history]
