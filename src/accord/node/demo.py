"""The article's story, played by three real nodes (KOR, JPN, USA) on loopback with SQLite.

2015: Korea shares North Korean missile data with Japan through the US (TISA, T-R4/T-R5); the hub
holds an item it wants to pass on until Korea's officer approves; a standing consent for missile
topics applies at once. 2017: directly under the GSOMIA. A release to a third country refused
(JK-R3/JK-R6). 2019: the notice of termination and its suspension. 2016–2023: the same release on the
GSOMIA's dates.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from rich.console import Console

from accord.node.client import local_client
from accord.node.cluster import NodeProcess, init_node, pin_each_other
from accord.node.config import NodeConfig

console = Console(highlight=False, width=max(100, Console().width))


def _label(item: str, classification: str, topics: list[str], rel: list[str], created: str) -> dict[str, Any]:
    return {
        "originator": "KOR",
        "classification": classification,
        "topics": topics,
        "releasable_to": rel,
        "caveats": [],
        "created": f"{created}T09:00:00Z",
        "review": None,
        "id": item,
    }


def _submit(c: httpx.Client, label: dict[str, Any], to: str, at: str, payload: bytes) -> httpx.Response:
    return c.post(
        "/v1/items",
        json={"label": label, "to": to, "at": at, "payload_b64": base64.b64encode(payload).decode()},
    )


def _wait(c: httpx.Client, path: str, pred: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(path)
        if r.status_code == 200 and pred(r.json()):
            return r.json()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting on {path}: {r.status_code} {r.text[:300]}")
        time.sleep(0.05)


def _explain(decision: dict[str, Any], *, limit: int = 3) -> None:
    route = " → ".join(decision["route"]) or "(none)"
    verdict = "[green]ALLOWED[/green]" if decision["allowed"] else "[red]REFUSED[/red]"
    console.print(f"    decision: {verdict}  route {route}  under {', '.join(decision['agreements']) or '-'}")
    shown = 0
    for r in decision["reasons"]:
        if decision["allowed"] and r["code"] not in (
            "CHANNEL",
            "RELAY_APPROVED",
            "CONSENT_USED",
            "EQUIVALENCE",
        ):
            continue
        cite = " ".join(x for x in (r.get("agreement"), r.get("article"), r.get("rule")) if x)
        console.print(f"      · {r['code']}: {r['message']}" + (f" [dim]({cite})[/dim]" if cite else ""))
        shown += 1
        if shown >= limit:
            break


def _held_by(c: httpx.Client, item: str, party: str) -> Any:
    st = _wait(c, f"/v1/items/{item}", lambda _s: True)
    console.print(
        f"    {party} holds {item}: marked [bold]{st['marking']}[/bold] (originator's label kept: "
        f"{st['label']['originator']} {st['label']['classification']}), received from {st['sender']}"
    )
    return st


def _receipted(c: httpx.Client, item: str, recipient: str, holder: str) -> None:
    st = _wait(c, f"/v1/items/{item}", lambda s: any(r["recipient"] == recipient for r in s["receipts"]))
    entry = next(r for r in st["receipts"] if r["recipient"] == recipient)
    rec = entry["receipt"]
    proof = entry.get("evidence")
    logged = (
        f",\n      with proof that {recipient} logged it: leaf {proof['index']} of its signed audit tree"
        if proof
        else ""
    )
    console.print(
        f"    {holder} stored {recipient}'s signed receipt (digest {rec['digest'][:16]}…, "
        f"{rec['received_at'][:19]}){logged}"
    )


class _Clients(NamedTuple):
    kor: httpx.Client
    jpn: httpx.Client
    usa: httpx.Client
    payload: bytes


def play(nodes: dict[str, NodeConfig]) -> None:
    kor, jpn, usa = (local_client(nodes[p]) for p in ("KOR", "JPN", "USA"))
    payload = b"Launch point, trajectory, predicted impact point (demo bytes)"
    clients = _Clients(kor, jpn, usa, payload)
    try:
        _chapter_2015_hub(clients)
        _chapter_2015_blind_hub(clients)
        _chapter_2015_approval(clients)
        _chapter_2015_standing(clients)
        _chapter_2017_direct(clients)
        _chapter_third_countries(clients)
        _chapter_2019_notice(clients)
        _chapter_replay_dates(clients)
        _chapter_exactly_once(clients)
    finally:
        for c in (kor, jpn, usa):
            c.close()


def _chapter_2015_hub(n: _Clients) -> None:
    kor, jpn, usa, payload = n.kor, n.jpn, n.usa, n.payload
    console.rule("[bold]2015 — trilateral arrangement (TISA): Korea → Japan only through the US hub")
    item = "kor-2015-0412"
    lab = _label(item, "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN", "USA"], "2015-04-12")
    console.print(f"  KOR submits {item} (군사Ⅱ급비밀, DPRK-MISSILE, REL TO JPN, USA) for JPN, as of 2015-04-12")
    r = _submit(kor, lab, "JPN", "2015-04-12", payload)
    r.raise_for_status()
    _explain(r.json()["decision"])
    _held_by(jpn, item, "JPN")
    _receipted(kor, item, "USA", "KOR")
    _receipted(usa, item, "JPN", "USA")


def _chapter_2015_blind_hub(n: _Clients) -> None:
    kor, jpn, usa, payload = n.kor, n.jpn, n.usa, n.payload
    console.rule("[bold]2015 — REL TO JPN only: the US hub relays blind (issue 10, ACC-R5)")
    item = "kor-2015-0601"
    lab = _label(item, "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN"], "2015-06-01")
    console.print(f"  KOR submits {item} (군사Ⅱ급비밀, DPRK-MISSILE, REL TO JPN) for JPN, as of 2015-06-01")
    r = _submit(kor, lab, "JPN", "2015-06-01", payload)
    r.raise_for_status()
    hops = r.json()["decision"]["hops"]
    console.print("  hops: " + ", ".join(f"{h['from']}→{h['to']} {h['mode']}" for h in hops))
    _held_by(jpn, item, "JPN")
    ev = _wait(usa, f"/v1/events?item_id={item}", lambda evs: any(e["type"] == "receipt" for e in evs))
    relay = next(e for e in ev if e["type"] == "blind_relay")
    body = relay["body"] if isinstance(relay["body"], dict) else json.loads(relay["body"])
    console.print(
        f"    USA forwarded it unopened to {body['next_hop']} (digest {body['digest'][:16]}…): no key, no marking;"
    )
    hub = _wait(usa, f"/v1/items/{item}", lambda h: h["state"] == "delivered")
    who = {"Accord-Person": "usa-officer", "Accord-Purpose": "relay"}
    payload_status = usa.get(f"/v1/items/{item}/payload", headers=who).status_code
    console.print(
        f"    USA's status of the relay: {hub['state']}, {hub['sender']} → {hub['to']}, no label, no content "
        f"(payload: HTTP {payload_status})"
    )
    custody = _wait(jpn, f"/v1/items/{item}", lambda s: s["custody"] is not None)["custody"]
    route = custody["route"]
    console.print(
        f"    JPN's custody: received from {custody['received_from']} via {', '.join(route['via'])} "
        f"under {custody['agreement']} (handed over by {route['handed_over_by']})"
    )
    _receipted(kor, item, "JPN", "KOR")  # Japan's own receipt, passed back by the hub


def _chapter_2015_approval(n: _Clients) -> None:
    kor, jpn, usa, payload = n.kor, n.jpn, n.usa, n.payload
    console.rule("[bold]2015 — the hub wants to pass on an item: it waits for Korea's approval (T-R5)")
    item2 = "kor-2015-0620"
    lab2 = _label(item2, "군사Ⅲ급비밀", ["DPRK-NUCLEAR"], ["JPN", "USA"], "2015-06-20")
    r = _submit(kor, lab2, "USA", "2015-06-20", payload)
    r.raise_for_status()
    console.print(f"  KOR sends {item2} (군사Ⅲ급비밀, DPRK-NUCLEAR) to USA only")
    _held_by(usa, item2, "USA")
    r = usa.post(f"/v1/items/{item2}/forward", json={"to": "JPN", "at": "2015-06-22"})
    r.raise_for_status()
    console.print(f"  USA asks to pass {item2} to JPN: [yellow]{r.json()['status']}[/yellow]")
    _explain(r.json()["decision"], limit=1)
    reqs = _wait(kor, "/v1/consent-requests?state=pending", lambda rs: any(x["item_id"] == item2 for x in rs))
    req = next(x for x in reqs if x["item_id"] == item2)
    console.print(f"  KOR's security officer sees request {req['request_id']} and approves it")
    kor.post(
        f"/v1/consent-requests/{req['request_id']}/approve",
        json={"officer": "ROK MND security officer", "reason": "T-R5 relay approved"},
    ).raise_for_status()
    _held_by(jpn, item2, "JPN")


def _chapter_2015_standing(n: _Clients) -> None:
    kor, jpn, usa, payload = n.kor, n.jpn, n.usa, n.payload
    console.rule("[bold]2015 — a standing consent for missile topics applies at once")
    kor.post(
        "/v1/consents/standing",
        json={
            "holder": "USA",
            "recipient": "JPN",
            "topics": ["DPRK-MISSILE"],
            "granted": "2015-01-01",
            "until": "2016-12-31",
            "officer": "ROK MND security officer",
        },
    ).raise_for_status()
    console.print("  KOR grants USA a standing consent: DPRK-MISSILE items may go on to JPN in 2015–2016")
    item3 = "kor-2015-1010"
    _submit(
        kor,
        _label(item3, "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN", "USA"], "2015-10-10"),
        "USA",
        "2015-10-10",
        payload,
    ).raise_for_status()
    _held_by(usa, item3, "USA")
    _wait(
        kor,
        "/v1/outbox",
        lambda rows: any(x["kind"] == "consent" and x["state"] == "delivered" for x in rows),
    )
    r = usa.post(f"/v1/items/{item3}/forward", json={"to": "JPN", "at": "2015-10-11"})
    r.raise_for_status()
    console.print(f"  USA passes {item3} to JPN: [green]{r.json()['status']}[/green] (no request needed)")
    _explain(r.json()["decision"], limit=1)
    _held_by(jpn, item3, "JPN")


def _chapter_2017_direct(n: _Clients) -> None:
    kor, jpn, payload = n.kor, n.jpn, n.payload
    console.rule("[bold]2017 — the Japan–ROK GSOMIA is in force: directly")
    item4 = "kor-2017-0212"
    r = _submit(
        kor,
        _label(item4, "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN"], "2017-02-12"),
        "JPN",
        "2017-02-12",
        payload,
    )
    r.raise_for_status()
    console.print(f"  KOR submits {item4} (REL TO JPN) for JPN, as of 2017-02-12")
    _explain(r.json()["decision"])
    _held_by(jpn, item4, "JPN")
    _receipted(kor, item4, "JPN", "KOR")


def _chapter_third_countries(n: _Clients) -> None:
    kor, jpn, payload = n.kor, n.jpn, n.payload
    item4 = "kor-2017-0212"  # released to JPN in 2017
    console.rule("[bold]Third countries — refused")
    r = jpn.post(f"/v1/items/{item4}/forward", json={"to": "USA", "at": "2017-02-13"})
    console.print(f"  JPN tries to pass {item4} to USA: HTTP {r.status_code} {r.json()['title']}")
    _explain(r.json()["decision"], limit=2)
    r = _submit(
        kor,
        _label("kor-2017-0213", "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN"], "2017-02-13"),
        "CHN",
        "2017-02-13",
        payload,
    )
    console.print(f"  KOR tries to release to CHN: HTTP {r.status_code} {r.json()['title']}")
    _explain(r.json()["decision"], limit=1)


def _chapter_2019_notice(n: _Clients) -> None:
    kor, jpn, payload = n.kor, n.jpn, n.payload
    console.rule("[bold]2019 — notice of termination (23 Aug) and its suspension (22 Nov)")
    for day, item5 in (("2019-09-02", "kor-2019-0902"), ("2019-12-02", "kor-2019-1202")):
        r = _submit(kor, _label(item5, "군사Ⅲ급비밀", ["DPRK-MISSILE"], ["JPN"], day), "JPN", day, payload)
        r.raise_for_status()
        d = r.json()["decision"]
        console.print(f"  {day}: KOR → JPN {item5}")
        _explain(d, limit=1)
        _held_by(jpn, item5, "JPN")
    _what_if_no_suspension()


def _chapter_replay_dates(n: _Clients) -> None:
    """The GSOMIA's dates replayed (tests/node/test_replay_2016_2023.py): the hub the day before it, direct
    from the day it was signed, through the 2019 crisis, after the 2023 normalisation."""
    kor, jpn, payload = n.kor, n.jpn, n.payload
    console.rule("[bold]2016–2023 — the same release on the GSOMIA's dates")
    for day in ("2016-11-22", "2016-11-23", "2019-10-01", "2019-11-25", "2023-03-21"):
        item = f"kor-replay-{day}"
        r = _submit(kor, _label(item, "군사Ⅱ급비밀", ["DPRK-MISSILE"], ["JPN"], day), "JPN", day, payload)
        r.raise_for_status()
        d = r.json()["decision"]
        hops = ", ".join(f"{h['from']}→{h['to']} {h['mode']}" for h in d["hops"])
        rules = sorted({x["rule"] for x in d["reasons"] if x.get("rule") and x["code"] == "CHANNEL"})
        console.print(f"  {day}: {hops}  [dim]({', '.join(rules)})[/dim]")
        _wait(jpn, f"/v1/items/{item}", lambda _s: True)
    r = _submit(
        kor,
        _label("kor-replay-grade1", "군사Ⅰ급비밀", ["DPRK-MISSILE"], ["JPN"], "2023-06-01"),
        "JPN",
        "2023-06-01",
        payload,
    )
    console.print(f"  2023-06-01: a Grade I item: HTTP {r.status_code} {r.json()['title']}")
    _explain(r.json()["decision"], limit=1)


def _chapter_exactly_once(n: _Clients) -> None:
    kor, jpn, usa = n.kor, n.jpn, n.usa
    console.rule("[bold]Exactly once")
    for party, c in (("KOR", kor), ("USA", usa), ("JPN", jpn)):
        rows = _wait(c, "/v1/outbox", lambda rows: all(x["state"] != "pending" for x in rows))
        by: dict[str, int] = {}
        for x in rows:
            by[x["state"]] = by.get(x["state"], 0) + 1
        console.print(f"  {party} outbox: {json.dumps(by)}")


def _what_if_no_suspension() -> None:
    """What would the node have decided on 2019-12-02 had Korea not suspended its notice?"""
    from accord.core.agreements import EventType
    from accord.core.decision import decide
    from accord.node.policy import label_from_dict, load_agreement_set

    aset = load_agreement_set(None)
    gsomia = aset.get("jpn-kor-gsomia")
    if gsomia is None:
        return
    events = [e for e in gsomia.lifecycle.events if e.type is not EventType.NOTICE_SUSPENDED]
    hypo = aset.replace(gsomia.with_events(events))
    lab = label_from_dict(_label("what-if", "군사Ⅲ급비밀", ["DPRK-MISSILE"], ["JPN"], "2019-12-02"))
    d = decide(lab, "KOR", "JPN", dt.date(2019, 12, 2), agreements=hypo)
    state = gsomia.with_events(events).state_at(dt.date(2019, 12, 2))
    console.print(
        f"  what-if: had the notice not been suspended, the GSOMIA would be {state.status.value} on "
        f"2019-12-02 ({state.message}); the node would fall back on TISA, as in 2015:"
    )
    _explain(d.to_dict(), limit=1)


def _audit_summary(cfgs: dict[str, NodeConfig]) -> None:
    """Each node's tamper-evident audit log (issue 5), checked against its verifier key."""
    from accord.audit.log import verify_database
    from accord.audit.note import parse_vkey
    from accord.node.audit import AUDIT_VKEY

    console.rule("[bold]Custody trail (JK-R11): each node's audit log, verified")
    for party, cfg in cfgs.items():
        vkey = (cfg.dir / AUDIT_VKEY).read_text().strip()
        report = verify_database(cfg.db, trusted=[parse_vkey(vkey)])
        verdict = "[green]verifies[/green]" if report.ok else f"[red]FAILS: {report.problems[:2]}[/red]"
        console.print(
            f"  {party}: {report.size} events, {report.checkpoints_verified} signed checkpoints, "
            f"root {report.root.hex()[:16]}… {verdict}"
        )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="accord-demo-") as tmp:
        root = Path(tmp)
        console.print(f"[bold]Accord node demo[/bold]: three nodes on 127.0.0.1, SQLite in {root}")
        cfgs = {p: init_node(root / p.lower(), p, what_if=True, retry_base_seconds=0.2) for p in ("KOR", "JPN", "USA")}
        pin_each_other(list(cfgs.values()))
        procs = [NodeProcess(cfgs[p], workers=2) for p in cfgs]
        try:
            for p in procs:
                p.start()
                console.print(f"  node {p.cfg.party} up at {p.cfg.url} (pid {p.proc.pid if p.proc else '?'})")
            play(cfgs)
        except Exception as e:  # a failed demo says why, then stops the nodes
            console.print(f"[red]demo failed: {e}[/red]")
            for p in procs:
                if p.log_path and p.log_path.exists():
                    console.print(p.log_path.read_text()[-3000:])
            return 1
        finally:
            for p in procs:
                p.stop()
        _audit_summary(cfgs)
        console.print("[bold green]demo complete[/bold green]: nodes stopped")
    return 0
