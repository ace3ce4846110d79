"""`accord open` never replaces its input, a device or (without --force) an existing file; an interrupted open
leaves no plaintext behind; `accord inspect` without a roster never passes a forged item as verified (issue 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sealed.test_sealed_cli import cli, seal, world  # noqa: F401  (fixtures)
from tests.support.reliability import record

pytestmark = pytest.mark.reliability


def test_open_with_out_equal_to_in_is_refused_and_the_item_kept(world, cli) -> None:  # noqa: F811
    assert seal(cli, "JPN").exit_code == 0
    before = Path("r.tdf").read_bytes()
    r = cli("open", "--in", "r.tdf", "--out", "r.tdf", "--keys", "keys/JPN", "--force")
    assert r.exit_code == 2 and "is the input" in r.output
    assert Path("r.tdf").read_bytes() == before
    os.symlink("r.tdf", "alias.tdf")  # the input through another name
    r = cli("open", "--in", "r.tdf", "--out", "alias.tdf", "--keys", "keys/JPN", "--force")
    assert r.exit_code == 2 and Path("r.tdf").read_bytes() == before


def test_open_never_replaces_an_existing_file_or_symlink_without_force(world, cli) -> None:  # noqa: F811
    assert seal(cli, "JPN").exit_code == 0
    Path("out.bin").write_bytes(b"keep me")
    r = cli("open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/JPN")
    assert r.exit_code == 2 and "--force" in r.output
    assert Path("out.bin").read_bytes() == b"keep me"
    Path("elsewhere.txt").write_bytes(b"target")
    os.symlink("elsewhere.txt", "link.bin")
    r = cli("open", "--in", "r.tdf", "--out", "link.bin", "--keys", "keys/JPN")
    assert r.exit_code == 2 and Path("elsewhere.txt").read_bytes() == b"target"
    r = cli("open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/JPN", "--force")
    assert r.exit_code == 0, r.output
    assert Path("out.bin").read_bytes() == Path("report.bin").read_bytes()
    assert (Path("out.bin").stat().st_mode & 0o777) == 0o600
    r = cli("open", "--in", "r.tdf", "--out", "link.bin", "--keys", "keys/JPN", "--force")
    assert r.exit_code == 0 and not Path("link.bin").is_symlink()  # the link is replaced, not its target
    assert Path("elsewhere.txt").read_bytes() == b"target"


def test_open_never_writes_to_a_device_even_with_force(world, cli) -> None:  # noqa: F811
    assert seal(cli, "JPN").exit_code == 0
    for target in ("/dev/null", "."):
        r = cli("open", "--in", "r.tdf", "--out", target, "--keys", "keys/JPN", "--force")
        assert r.exit_code == 2 and "not a regular file" in r.output, r.output


def test_open_of_a_tampered_item_leaves_nothing(world, cli) -> None:  # noqa: F811
    assert seal(cli, "JPN").exit_code == 0
    blob = bytearray(Path("r.tdf").read_bytes())
    blob[len(blob) // 2] ^= 1
    Path("t.tdf").write_bytes(bytes(blob))
    r = cli("open", "--in", "t.tdf", "--out", "out.bin", "--keys", "keys/JPN")
    assert r.exit_code in (1, 2)
    assert sorted(p.name for p in Path(".").iterdir() if "out.bin" in p.name) == []


def test_open_killed_9_leaves_no_part_plaintext_and_stale_parts_are_removed(world, cli, tmp_path) -> None:  # noqa: F811
    Path("report.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    assert seal(cli, "JPN").exit_code == 0
    stale = Path(".out.bin.0123456789abcdef.accord-open.part")  # left by an older interrupted open
    stale.write_bytes(b"stale plaintext")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    kills = 0
    for delay in (0.4, 0.8, 1.2):
        p = subprocess.Popen(
            [sys.executable, "-m", "accord", "open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/JPN"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait(30)
        left = [x.name for x in Path(".").iterdir() if x.name.startswith(".out.bin") and x != stale]
        assert left == [], left
        if Path("out.bin").exists():  # it finished: the whole verified plaintext, or nothing
            assert Path("out.bin").read_bytes() == Path("report.bin").read_bytes()
            Path("out.bin").unlink()
    r = cli("open", "--in", "r.tdf", "--out", "out.bin", "--keys", "keys/JPN")
    assert r.exit_code == 0, r.output
    assert not stale.exists()
    record("cli: accord open killed -9 (no plaintext left)", group="crash", attempts=3, accepted=3 - kills, lost=0)


def test_inspect_of_a_forged_item_without_roster_is_not_verified_exit_3(world, cli) -> None:  # noqa: F811
    r = cli("keys", "init", "--party", "KOR", "--dir", "evil")  # an attacker's own "KOR" keys
    assert r.exit_code == 0, r.output
    Path("roster-evil").mkdir()
    for p in ("JPN", "USA"):
        for f in Path("roster").glob(f"{p}.*.json"):
            (Path("roster-evil") / f.name).write_bytes(f.read_bytes())
    (Path("roster-evil") / "KOR.1.json").write_bytes(Path("evil/KOR.1.json").read_bytes())
    r = cli(
        "seal", "--label", "label.xml", "--to", "JPN", "--in", "report.bin", "--out", "forged.tdf",
        "--keys", "evil", "--roster", "roster-evil", "--at", "2017-01-05",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = cli("inspect", "forged.tdf")
    assert r.exit_code == 3, r.output
    assert "NOT verified" in r.output
    r = cli("inspect", "forged.tdf", "--roster", "roster")  # against the genuine roster: refused
    assert r.exit_code == 1
    assert seal(cli, "JPN").exit_code == 0
    assert cli("inspect", "r.tdf", "--roster", "roster").exit_code == 0
    assert cli("inspect", "r.tdf").exit_code == 3  # genuine, but nothing was verified


@pytest.fixture(autouse=True)
def _no_leftovers(world) -> None:  # noqa: F811
    """Every test here runs in the world's directory (chdir)."""
