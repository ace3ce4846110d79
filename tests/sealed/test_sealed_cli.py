"""The sealed-item CLI end to end: keys init, seal, inspect, open, rewrap, exit codes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli import _register, app

LABEL = """<?xml version="1.0" encoding="UTF-8"?>
<slab:originatorConfidentialityLabel xmlns:slab="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
  Id="kor-item-7" ReviewDateTime="2018-01-01T00:00:00Z">
 <slab:ConfidentialityInformation>
  <slab:PolicyIdentifier>KOR</slab:PolicyIdentifier>
  <slab:Classification>군사Ⅱ급비밀</slab:Classification>
  <slab:Category TagName="Topic" Type="RESTRICTIVE"><slab:GenericValue>DPRK-MISSILE</slab:GenericValue>
  </slab:Category>
  <slab:Category TagName="Releasable To" Type="PERMISSIVE"><slab:GenericValue>JPN</slab:GenericValue>
   <slab:GenericValue>USA</slab:GenericValue></slab:Category>
 </slab:ConfidentialityInformation>
 <slab:CreationDateTime>2016-12-01T00:00:00Z</slab:CreationDateTime>
</slab:originatorConfidentialityLabel>
"""


@pytest.fixture(scope="module")
def cli():
    _register()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


@pytest.fixture
def world(tmp_path: Path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for p in ("KOR", "JPN", "USA"):
        r = cli("keys", "init", "--party", p, "--roster", "roster")
        assert r.exit_code == 0, r.output
    Path("label.xml").write_text(LABEL, encoding="utf-8")
    Path("report.bin").write_bytes(os.urandom(50_000))
    return tmp_path


def seal(cli, *to: str, out: str = "r.tdf", at: str = "2017-01-05", extra: tuple[str, ...] = ()):
    """``accord seal`` of report.bin under label.xml by KOR for ``to``."""
    recipients = [a for p in to for a in ("--to", p)]
    return cli(
        "seal",
        "--label",
        "label.xml",
        *recipients,
        "--in",
        "report.bin",
        "--out",
        out,
        "--keys",
        "keys/KOR",
        "--at",
        at,
        *extra,
    )


def test_keys_init_writes_0600_keys_and_roster_entry(world, cli):
    mode = stat.S_IMODE((world / "keys/KOR/party-keys.json").stat().st_mode)
    assert mode == 0o600
    assert (world / "roster/KOR.1.json").exists()
    r = cli("keys", "init", "--party", "KOR")
    assert r.exit_code == 2
    assert "already exists" in r.output


def test_seal_inspect_open(world, cli):
    r = seal(cli, "JPN", "USA")
    assert r.exit_code == 0, r.output
    r = cli("inspect", "r.tdf", "--roster", "roster", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["signature"] == "valid"
    assert doc["payload"] == "intact"
    assert [x["party"] for x in doc["recipients"]] == ["JPN", "USA"]
    assert doc["banner"].endswith("REL TO JPN, USA")
    r = cli("open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/USA")
    assert r.exit_code == 0, r.output
    assert Path("out.bin").read_bytes() == Path("report.bin").read_bytes()


def test_denied_recipient_exits_1_and_writes_nothing(world, cli):
    r = seal(cli, "CHN", out="x.tdf")
    assert r.exit_code == 1
    assert "refused" in r.output
    assert not Path("x.tdf").exists()


def test_bad_input_exits_2(world, cli):
    r = cli(
        "seal", "--label", "missing.xml", "--to", "JPN", "--in", "report.bin", "--out", "x.tdf", "--keys", "keys/KOR"
    )
    assert r.exit_code == 2
    r = cli("inspect", "report.bin")
    assert r.exit_code == 2
    assert "error:" in r.output


def test_tampered_item_exits_1_and_leaves_no_plaintext(world, cli):
    seal(cli, "JPN")
    data = bytearray(Path("r.tdf").read_bytes())
    data[200] ^= 1
    Path("r.tdf").write_bytes(bytes(data))
    r = cli("open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/JPN")
    assert r.exit_code == 1
    assert not Path("out.bin").exists()
    assert not [p for p in os.listdir(".") if p.endswith(".part")]
    r = cli("inspect", "r.tdf", "--roster", "roster")
    assert r.exit_code == 1


def test_hub_rewrap_via_cli(world, cli):
    r = seal(cli, "JPN", at="2015-06-01", extra=("--relay", "rewrap"))
    assert r.exit_code == 0, r.output
    assert cli("open", "--in", "r.tdf", "--out", "o.bin", "--keys", "keys/JPN").exit_code == 1
    r = cli("rewrap", "--in", "r.tdf", "--out", "r2.tdf", "--to", "JPN", "--keys", "keys/USA", "--at", "2015-06-01")
    assert r.exit_code == 0, r.output
    assert cli("open", "--in", "r2.tdf", "--out", "o.bin", "--keys", "keys/JPN").exit_code == 0
    assert Path("o.bin").read_bytes() == Path("report.bin").read_bytes()


def test_rotate_and_pin_with_fingerprint(world, cli):
    r = cli("keys", "rotate", "--keys", "keys/KOR")
    assert r.exit_code == 0, r.output
    assert (world / "roster/KOR.2.json").exists()
    # A fresh roster elsewhere pins KOR v1 only with the right fingerprint, then accepts v2.
    r = cli("keys", "add", "keys/KOR/KOR.1.json", "--roster", "other")
    assert r.exit_code == 1
    assert "--fingerprint" in r.output
    fp = r.output.split("--fingerprint ")[1].split()[0]
    assert cli("keys", "add", "keys/KOR/KOR.1.json", "--roster", "other", "--fingerprint", fp).exit_code == 0
    assert cli("keys", "add", "keys/KOR/KOR.2.json", "--roster", "other").exit_code == 0
    assert sorted(os.listdir("other")) == ["KOR.1.json", "KOR.2.json"]
