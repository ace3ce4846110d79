"""The shared PostgreSQL fixture starts a real server."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def test_postgres_fixture_serves_a_real_server(postgres_db_url: str) -> None:
    engine = create_engine(postgres_db_url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    assert str(version).startswith("15")


def test_fixture_reports_missing_binaries(monkeypatch) -> None:
    """The fixture skips (with a reason) only when something it needs is missing."""
    from tests.support import postgres

    assert postgres._missing() is None  # this machine has PostgreSQL 15: the fixture must run
    monkeypatch.setattr(postgres.shutil, "which", lambda tool: None)
    reason = postgres._missing()
    assert reason is not None
    assert "initdb" in reason


def test_audit_cli_verifies_a_postgresql_database(postgres_db_url: str, tmp_path) -> None:
    from typer.testing import CliRunner

    from accord.audit.log import AuditLog
    from accord.audit.note import NoteSigner
    from accord.cli import _register, app

    _register()
    signer = NoteSigner.generate("accord.usa.example/audit")
    with AuditLog(postgres_db_url, origin="accord.usa.example/audit", signer=signer) as log:
        log.append({"type": "access", "item": "i", "digest": "sha256:" + "0" * 64, "at": "2017-01-05T00:00:00Z"})
    r = CliRunner().invoke(app, ["audit", "verify", postgres_db_url, "--vkey", signer.vkey])
    assert r.exit_code == 0, r.stderr
    assert "ok: 1 events" in r.stdout
