"""Applying an originator's custody notice to this node's records (issue 10): the item and every item derived
from it here -- re-marked after a reclassification (JK-R12, JK-R4 equivalent), frozen or unfrozen (JK-R26),
given its purpose (JK-R7). Used by :mod:`accord.node.flow.notices`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Connection

from accord.core.custody import Custody, CustodyState, reclassify_all
from accord.core.labels import Label
from accord.formats.custody_notice import Notice
from accord.node.db import custody_sql as db_custody
from accord.node.db import items_sql as db_items
from accord.node.errors import NotFound
from accord.node.flow.journal import Journal
from accord.node.policy import label_from_dict


class CustodyApply(Journal):
    """The records an originator's notice changes here, and how."""

    @property
    def schemes(self) -> Any:
        return self.agreements.schemes

    def _closure(self, conn: Connection, roots: list[str]) -> list[str]:
        """The items and every item derived from them here (transitively)."""
        records = {c.item: c for c in db_custody.all_custody(conn) if c.item is not None}
        out: list[str] = []
        todo = list(roots)
        while todo:
            cur = todo.pop(0)
            if cur in out:
                continue
            out.append(cur)
            rec = records.get(cur)
            todo.extend(rec.derived if rec is not None else ())
            todo.extend(i for i, r in records.items() if cur in r.sources)
        return out

    def _effective_label(self, conn: Connection, item_id: str, rec: Custody) -> Label:
        """The item's label as held here: the sealed (or derived) label, re-marked by a reclassification."""
        text = db_custody.derived_label_json(conn, item_id) or db_items.item_label_json(conn, item_id)
        if text is None:
            raise NotFound(f"no label of {item_id} here")
        label = label_from_dict(json.loads(text))
        if rec.marking and rec.marking != label.classification and self.schemes.level(label.originator, rec.marking):
            label = replace(label, classification=rec.marking)
        return label

    def _apply(
        self, conn: Connection, n: Notice, ids: list[str], covers: dict[str, Any], day: dt.date
    ) -> tuple[list[str], dict[str, str | None]]:
        """Apply an originator's notice to the records of ``ids`` held here; returns the items changed and, for
        the forwards, each item with its new classification (reclassification) or None."""
        recs = {
            i: r for i in ids if (r := db_custody.get_custody(conn, i)) is not None and r.originator == n.originator
        }
        marks: dict[str, str | None] = dict.fromkeys(ids)
        changed: list[str] = []
        if n.kind == "reclassification":
            assert n.classification is not None
            labels = {i: self._effective_label(conn, i, r) for i, r in recs.items() if r.holding}
            new: dict[str, str] = {}
            if n.item in labels:
                new = {
                    k: v.classification
                    for k, v in reclassify_all(
                        labels, list(recs.values()), n.item, n.originator, n.classification, schemes=self.schemes
                    ).items()
                }
            for d, cls in covers.items():  # derived items given by the sender: their new marking as it computed
                if d in labels:
                    new[d] = str(cls) if cls else n.classification
            for i, cls in new.items():
                marks[i] = cls
                r = recs[i]
                if r.marking == cls:
                    continue
                alt = self._alternative(r, cls, day)
                db_custody.update_custody(conn, replace(r, marking=cls, alternative=alt))
                self._event(
                    conn,
                    "reclassified",
                    i,
                    {"from": r.marking, "to": cls, "alternative": alt, "notice": n.digest, "by": n.originator},
                )
                changed.append(i)
            if n.item not in marks or marks[n.item] is None:
                marks[n.item] = n.classification
            return changed, marks
        for i, r in recs.items():
            if n.kind == "purpose":
                if r.purpose == n.purpose:
                    continue
                out = replace(r, purpose=n.purpose)
            elif n.kind == "freeze":
                if not r.holding or r.state is CustodyState.FROZEN:
                    continue
                out = r.to(CustodyState.FROZEN)
            else:  # unfreeze
                if r.state is not CustodyState.FROZEN:
                    continue
                out = r.to(CustodyState.HELD)
            db_custody.update_custody(conn, out)
            self._event(
                conn,
                "custody",
                i,
                {
                    "from": r.state.value,
                    "to": out.state.value,
                    "purpose": out.purpose,
                    "notice": n.digest,
                    "kind": n.kind,
                },
            )
            changed.append(i)
        return changed, marks

    def _alternative(self, rec: Custody, classification: str, day: dt.date) -> str | None:
        """This nation's equivalent marking of ``classification`` (JK-R4) under the agreement the item is held
        under (or any agreement between the two, the protection surviving: JK-R31); None when there is none."""
        level = self.schemes.level(rec.originator, classification)
        if level is None:
            return None
        ag = self.agreements.get(rec.agreement) if rec.agreement else None
        if ag is not None:
            row = ag.terms_at(day).row_for(level)
            key = row.levels.get(self.party) if row is not None else None
            target = self.schemes.get(self.party)
            mine = target.by_key(key) if key is not None and target is not None else None
            if mine is not None:
                return str(mine.marking)
        found = self.agreements.equivalent_level(level, self.party)
        return str(found[0].marking) if found is not None else None
