"""Sealed items: seal/open throughput and peak memory on a big file, per-item cost of small items.

Peers, measured in the same run over the same bytes:
- throughput: raw AES-256-GCM from ``cryptography`` streaming the same file in the same 2 MiB chunks,
  file to file, with the same fsync at the end (so both sides pay the same I/O);
- peak memory: the raw AES-256-GCM child process (both run in a fresh child; ``ru_maxrss``);
- per-item: the primitives alone (three HPKE wraps + one AES-256-GCM seal of 10 KB; one unwrap + open).

Size: ``ACCORD_BENCH_SEAL_MIB`` (default 1024 = 1 GiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import Result, rate

CHILD = r"""
import io, json, os, resource, sys, time
from datetime import date
from pathlib import Path
mode, src, dst, keydir = sys.argv[1:5]
CH = 2 * 1024 * 1024
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
if mode not in ("raw_null", "raw_enc", "raw_dec"):
    from accord.sealed import container as c
    from accord.sealed.keys import PartyKeys, Roster
    kor, jpn = PartyKeys.load(Path(keydir) / "KOR"), PartyKeys.load(Path(keydir) / "JPN")
    roster = Roster.load(Path(keydir) / "roster")
t0 = time.perf_counter()  # imports and key loading excluded on both sides
if mode == "raw_null":
    aes = AESGCM(b"k" * 32)
    with open(src, "rb") as f, open(os.devnull, "wb") as out:
        i = 0
        while True:
            buf = f.read(CH)
            if not buf:
                break
            out.write(aes.encrypt(i.to_bytes(12, "big"), buf, b"aad"))
            i += 1
elif mode in ("raw_enc", "raw_dec"):
    aes = AESGCM(b"k" * 32)
    n = CH if mode == "raw_enc" else CH + 16
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dst), suffix=".part")  # same pattern as ours
    with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
        i = 0
        while True:
            buf = f.read(n)
            if not buf:
                break
            nonce = i.to_bytes(12, "big")
            out.write(aes.encrypt(nonce, buf, b"aad") if mode == "raw_enc" else aes.decrypt(nonce, buf, b"aad"))
            i += 1
        out.flush(); os.fsync(out.fileno())
    os.replace(tmp, dst)
else:
    if mode == "seal_null":
        with open(src, "rb") as f, open(os.devnull, "wb") as out:
            lx = Path(keydir, "label.xml").read_bytes()
            plan = c.ReleasePlan.without_decision(lx, holder="KOR", recipients=["JPN"], at=date(2017, 1, 5))
            c.seal_stream(f, out, label_xml=lx, signer=kor, roster=roster, plan=plan)
    elif mode == "open_null":
        with open(src, "rb") as f:
            c.open_stream(f, None, keys=jpn, roster=roster)
    elif mode == "seal":
        lx = Path(keydir, "label.xml").read_bytes()
        c.seal_path(src, dst, label_xml=lx, signer=kor, roster=roster,
                    plan=c.ReleasePlan.without_decision(lx, holder="KOR", recipients=["JPN"], at=date(2017, 1, 5)))
    else:
        c.open_file(src, dst, keys=jpn, roster=roster)
dt = time.perf_counter() - t0
# VmHWM: this process's peak resident set (ru_maxrss would include the parent's, kept across exec).
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": dt, "maxrss_mib": hwm / 1024}))
"""

LABEL = (
    b'<slab:originatorConfidentialityLabel xmlns:slab="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0" '
    b'ReviewDateTime="2018-01-01T00:00:00Z"><slab:ConfidentialityInformation>'
    b"<slab:PolicyIdentifier>KOR</slab:PolicyIdentifier><slab:Classification>\xea\xb5\xb0\xec\x82\xac\xe2\x85\xa1"
    b'\xea\xb8\x89\xeb\xb9\x84\xeb\xb0\x80</slab:Classification><slab:Category TagName="Releasable To" '
    b'Type="PERMISSIVE"><slab:GenericValue>JPN</slab:GenericValue><slab:GenericValue>USA</slab:GenericValue>'
    b"</slab:Category></slab:ConfidentialityInformation><slab:CreationDateTime>2017-01-01T00:00:00Z"
    b"</slab:CreationDateTime></slab:originatorConfidentialityLabel>"
)


def _child(mode: str, src: Path, dst: Path, keydir: Path) -> dict[str, float]:
    if dst != Path(os.devnull):
        dst.unlink(missing_ok=True)
    os.sync()  # start every run with no dirty pages from the previous one
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(src), str(dst), str(keydir)], check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _big(tmp: Path, mib: int) -> list[Result]:
    from accord.sealed.keys import PartyKeys, Roster

    roster = Roster()
    for p in ("KOR", "JPN"):
        k = PartyKeys.generate(p)
        k.save(tmp / p)
        roster.pin(Roster.first_entry(k))
    roster.save(tmp / "roster")
    (tmp / "label.xml").write_bytes(LABEL)
    src = tmp / "plain.bin"
    block = os.urandom(16 * 1024 * 1024)
    with open(src, "wb") as f:
        for i in range(mib // 16):
            f.write(block[i % 7 :] + block[: i % 7])
    size = src.stat().st_size
    mib_s = size / (1024 * 1024)
    # Warm the page cache once so the first measured run is not penalised.
    _child("raw_enc", src, tmp / "raw.enc", tmp)
    best: dict[str, dict[str, float]] = {}
    for _ in range(3):  # best of three, alternating ours and the peer (shared, noisy disk)
        for mode, a, b in (
            ("raw_enc", src, tmp / "raw.enc"),
            ("seal", src, tmp / "item.tdf"),
            ("raw_dec", tmp / "raw.enc", tmp / "raw.dec"),
            ("open", tmp / "item.tdf", tmp / "out.bin"),
            ("raw_null", src, Path(os.devnull)),
            ("seal_null", src, Path(os.devnull)),
            ("open_null", tmp / "item.tdf", Path(os.devnull)),
        ):
            r = _child(mode, a, b, tmp)
            if mode not in best or r["seconds"] < best[mode]["seconds"]:
                best[mode] = r
    # In-memory AES-GCM over the same bytes (no I/O), for the note.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aes = AESGCM(b"k" * 32)
    chunk = block[: 2 * 1024 * 1024]
    t0 = time.perf_counter()
    for i in range(size // len(chunk)):
        aes.encrypt(i.to_bytes(12, "big"), chunk, b"aad")
    mem_rate = mib_s / (time.perf_counter() - t0)
    note = f"{mib_s:.0f} MiB file→file incl. fsync; raw in-memory AES-GCM {mem_rate:,.0f} MiB/s"
    return [
        Result(
            "seal.seal_throughput",
            "MiB/s",
            mib_s / best["seal"]["seconds"],
            "raw AES-256-GCM file→file",
            mib_s / best["raw_enc"]["seconds"],
            True,
            note,
        ),
        Result(
            "seal.open_throughput",
            "MiB/s",
            mib_s / best["open"]["seconds"],
            "raw AES-256-GCM file→file",
            mib_s / best["raw_dec"]["seconds"],
            True,
            note,
        ),
        Result(
            "seal.seal_cpu_throughput",
            "MiB/s",
            mib_s / best["seal_null"]["seconds"],
            "raw AES-256-GCM file→/dev/null",
            mib_s / best["raw_null"]["seconds"],
            True,
            "page cache → /dev/null: the CPU pipeline (AES-GCM + SHA-256 root + zip CRC)",
        ),
        Result(
            "seal.open_cpu_throughput",
            "MiB/s",
            mib_s / best["open_null"]["seconds"],
            "raw AES-256-GCM file→/dev/null",
            mib_s / best["raw_null"]["seconds"],
            True,
            "page cache, plaintext discarded: verify + decrypt pipeline",
        ),
        Result(
            "seal.seal_peak_rss",
            "MiB",
            best["seal"]["maxrss_mib"],
            "raw AES-256-GCM child",
            best["raw_enc"]["maxrss_mib"],
            False,
            f"{mib_s:.0f} MiB input; target < 64 MiB",
        ),
        Result(
            "seal.open_peak_rss",
            "MiB",
            best["open"]["maxrss_mib"],
            "raw AES-256-GCM child",
            best["raw_dec"]["maxrss_mib"],
            False,
            f"{mib_s:.0f} MiB input; target < 64 MiB",
        ),
    ]


def _small() -> list[Result]:
    import functools
    import io

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from accord.sealed import container as c
    from accord.sealed.keys import PartyKeys, Roster
    from accord.sealed.suites import (
        CLASSICAL,
        HYBRID,
        EncPrivate,
        EncPublic,
        SignKeyPair,
        WrapSuite,
        enc_public_from_raw,
        get_suite,
        unwrap_key,
        verify_signature,
        wrap_key,
    )

    parties = {p: PartyKeys.generate(p) for p in ("KOR", "JPN", "USA", "GBR")}
    roster = Roster()
    for k in parties.values():
        roster.pin(Roster.first_entry(k))
    item = os.urandom(10 * 1024)
    to = ("JPN", "USA", "GBR")

    def seal(suite: str) -> bytes:
        out = io.BytesIO()
        c.seal_stream(
            io.BytesIO(item),
            out,
            label_xml=LABEL,
            plan=c.ReleasePlan.without_decision(LABEL, holder="KOR", recipients=to, at=date(2017, 1, 5), suite=suite),
            signer=parties["KOR"],
            roster=roster,
        )
        return out.getvalue()

    out: list[Result] = []
    for suite in (HYBRID, CLASSICAL):
        ws = get_suite(suite)
        pubs = [enc_public_from_raw(r.type, r.public) for r in (roster.encryption_key(p, suite) for p in to)]
        priv = parties["JPN"].current.enc[ws.key_type].private()

        signer = parties["KOR"].current.sign
        sig = signer.sign(LABEL)

        def primitives(ws: WrapSuite = ws, pubs: list[EncPublic] = pubs, signer: SignKeyPair = signer) -> None:
            dek = AESGCM.generate_key(256)
            AESGCM(dek).encrypt(b"\0" * 12, item, None)
            for pub in pubs:
                wrap_key(ws, pub, dek, b"info")
            signer.sign(LABEL)

        blob = seal(suite)
        wrapped = wrap_key(ws, pubs[0], b"k" * 32, b"info")

        def prim_open(
            ws: WrapSuite = ws,
            priv: EncPrivate = priv,
            wrapped: bytes = wrapped,
            sig: bytes = sig,
            pub: bytes = signer.public_raw,
        ) -> None:
            dek = unwrap_key(ws, priv, wrapped, b"info")
            AESGCM(dek).encrypt(b"\0" * 12, item, None)
            verify_signature(pub, sig, LABEL)

        tag = "hybrid" if suite == HYBRID else "classical"
        ours = 1e6 / rate(functools.partial(seal, suite), min_seconds=1.0, batch=10)
        peer = 1e6 / rate(primitives, min_seconds=1.0, batch=10)
        out.append(
            Result(
                f"seal.item_seal_10k_3rcpt_{tag}",
                "µs/item",
                ours,
                "primitives: 3 HPKE wraps + AES-GCM + hybrid sign",
                peer,
                False,
                f"{len(blob)} B sealed; includes hybrid signature",
            )
        )
        ours = 1e6 / rate(
            functools.partial(c.open_bytes, blob, keys=parties["JPN"], roster=roster), min_seconds=1.0, batch=10
        )
        peer = 1e6 / rate(prim_open, min_seconds=1.0, batch=10)
        out.append(
            Result(
                f"seal.item_open_10k_{tag}",
                "µs/item",
                ours,
                "primitives: HPKE unwrap + AES-GCM + hybrid verify",
                peer,
                False,
                "includes signature verification against the roster",
            )
        )
    return out


def run() -> list[Result]:
    mib = int(os.environ.get("ACCORD_BENCH_SEAL_MIB", "1024"))
    results = _small()
    with tempfile.TemporaryDirectory(prefix="bench-seal-", dir=os.environ.get("ACCORD_BENCH_TMP")) as d:
        results += _big(Path(d), mib)
    return results
