"""Read-only view of a node's feed logs: the latest flights it received, its heads and status.

For displays on the node's own host (the web console's live feed page). The durable stream logs
(``<node dir>/feed/feed.db``) are opened read-only; records of the streams addressed to this node are
opened with its offer key (``feed/offer-key.pem``) and the originator's signed session records, exactly
as :class:`accord.feed.client.FeedClient` does, without connecting to the running service. Records that
do not authenticate are counted (``quarantined``), never shown.

A node's own (published) streams are sealed end to end to their recipients: their content cannot be read
back from its log by design (the publisher keeps no session key), so only their heads are given.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from accord.core.agreements import AgreementSet
from accord.core.labels import Label
from accord.errors import AccordError
from accord.feed import crypto as fc
from accord.feed import frame as ff
from accord.feed import offerkeys, store
from accord.feed.identity import NodeIdentity
from accord.feed.model import FEED_TOPIC, FeedRefused, Kind, WarningMessage, decode_message
from accord.feed.node import OFFER_KEY, STATE_DIR
from accord.feed.scope import mechanisms

STATUS_STALE_S = 5.0  # `accord feed serve` rewrites status.json every second


@dataclass
class _Flight:
    originator: str
    event: str
    streams: set[str]
    launch: WarningMessage | None = None
    impact: WarningMessage | None = None
    points: int = 0
    last_us: int = 0

    def __post_init__(self) -> None:
        self.track: list[WarningMessage] = []


def feed_label(agreements: AgreementSet, originator: str, at: date) -> Label | None:
    """The label warning data of ``originator`` carries on ``at`` (the feed arrangement's equivalence row,
    topic ``DPRK-MISSILE-WARNING``, releasable to its other parties); None when no arrangement gives one."""
    for mech in mechanisms(agreements):
        if originator not in mech.parties:
            continue
        terms = mech.terms_at(at)
        row = terms.equivalence[0] if terms.equivalence else None
        level = row.levels.get(originator) if row is not None else None
        if level is not None:
            return Label(
                originator=originator,
                classification=level,
                topics=frozenset({FEED_TOPIC}),
                releasable_to=frozenset(p for p in mech.parties if p != originator),
                created=datetime(2000, 1, 1, tzinfo=UTC),
            )
    return None


def _point(m: WarningMessage) -> dict[str, Any]:
    return {"time": m.time_us, "lat": m.lat, "lon": m.lon}


def latest_tracks(node_dir: str | Path, *, records: int = 4000, flights: int = 12, points: int = 400) -> dict[str, Any]:
    """The latest flights in the streams this node received, newest first, and the feed's figures.

    Reads at most the last ``records`` records of each received stream; gives at most ``flights``
    flights and the last ``points`` track points of each. Never writes to the node directory.

    Returns ``{"party", "available", "why"?, "flights": [...], "streams": [...], "quarantined",
    "status": <status.json of the running service or None>, "status_age_s", "running"}``; a flight is
    ``{"originator", "event", "streams", "launch", "impact", "track": [{"time","lat","lon","alt_m"}],
    "points", "last_us"}`` (times in µs since the epoch, UTC).
    """
    directory = Path(node_dir)
    ident = NodeIdentity.load(directory)
    party = ident.party
    state = directory / STATE_DIR
    out: dict[str, Any] = {"party": party, "available": False, "flights": [], "streams": [], "quarantined": 0}
    out.update(_status(state))
    db_path = state / "feed.db"
    if not db_path.exists():
        out["why"] = "no feed service has run at this node yet"
        return out
    db = store.open_readonly(db_path)
    try:
        heads = store.heads_of(db)
        row = db.execute("SELECT v FROM kv WHERE k = 'my-offer'").fetchone()
        keys: dict[str, offerkeys.OfferKey] = {}
        if row is not None and (state / OFFER_KEY).exists():
            with contextlib.suppress(AccordError):
                keys = offerkeys.offer_keys(state, party, ident.sign_key.public_key(), bytes(row[0]))
        found: dict[tuple[str, str], _Flight] = {}
        quarantined = 0
        for stream, head in sorted(heads.items()):
            o, r = stream[:3], stream[4:]
            role = "published" if o == party else "received" if r == party else "relayed"
            info: dict[str, Any] = {"stream": stream, "head": head, "role": role, "readable": False}
            out["streams"].append(info)
            okey = ident.verify_key(o)
            if role != "received" or not keys or okey is None:
                continue
            info["readable"] = True
            sessions: dict[int, fc.Session] = {}
            for hs in store.marks_of(db, stream, ff.HS):
                try:
                    body = store.read_records(db, stream, hs, hs, 1)[0][1]
                    payload = ff.parse_record(body).payload
                    k = keys.get(fc.parse_session_header(payload)["offer"])
                    if k is None:
                        raise fc.FeedCryptoError("sealed to an offer key not held (or expired)")
                    sess = fc.open_session(payload, stream, okey, k.offer, k.priv)
                    sessions[sess.epoch] = sess
                except (fc.FeedCryptoError, ff.FrameError, AccordError, IndexError):
                    quarantined += 1
            first = max(1, head - records + 1)
            for seq, body in store.read_records(db, stream, first, head, records):
                if body[ff.REC_HEADER - 1] != ff.DATA:
                    continue
                try:
                    rec = ff.parse_record(body)
                    opened = sessions.get(fc.data_epoch(rec.payload))
                    if opened is None:
                        raise fc.FeedCryptoError("no session for its epoch")
                    m = decode_message(opened.open(rec.raw, int(seq)))
                except (fc.FeedCryptoError, ff.FrameError, FeedRefused):
                    quarantined += 1
                    continue
                f = found.get((o, m.event))
                if f is None:
                    f = found[(o, m.event)] = _Flight(o, m.event, set())
                f.streams.add(stream)
                f.last_us = max(f.last_us, m.time_us if m.kind is not Kind.IMPACT else 0, m.issued_us)
                if m.kind is Kind.LAUNCH:
                    f.launch = m
                elif m.kind is Kind.IMPACT:
                    f.impact = m
                else:
                    f.points += 1
                    f.track.append(m)
                    if len(f.track) > 2 * points:
                        del f.track[:-points]
        out["quarantined"] = quarantined
    finally:
        db.close()
    newest = sorted(found.values(), key=lambda f: f.last_us, reverse=True)[:flights]
    out["flights"] = [
        {
            "originator": f.originator,
            "event": f.event,
            "streams": sorted(f.streams),
            "launch": _point(f.launch) if f.launch else None,
            "impact": _point(f.impact) if f.impact else None,
            "track": [{**_point(m), "alt_m": m.alt_m} for m in sorted(f.track, key=lambda m: m.time_us)[-points:]],
            "points": f.points,
            "last_us": f.last_us,
        }
        for f in newest
    ]
    out["available"] = True
    return out


def _status(state: Path) -> dict[str, Any]:
    """The running service's figures (``accord feed status``): written every second by ``feed serve``."""
    path = state / "status.json"
    try:
        st = json.loads(path.read_text())
        age = max(0.0, time.time() - path.stat().st_mtime)
    except (OSError, ValueError):
        return {"status": None, "status_age_s": None, "running": False}
    return {
        "status": st if isinstance(st, dict) else None,
        "status_age_s": round(age, 1),
        "running": age < STATUS_STALE_S,
    }
