"""The SDK page's opening example runs as written (docs/sdk.md), and accord.__all__ resolves."""

from __future__ import annotations

import re
from pathlib import Path

import accord

DOC = Path(__file__).resolve().parents[1] / "docs" / "sdk.md"


def _first_python_block() -> str:
    m = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert m is not None, "docs/sdk.md must open with a ```python example"
    return m.group(1)


def test_sdk_example_runs(capsys):
    code = _first_python_block()
    assert 15 <= len(code.splitlines()) <= 30  # a short example, as promised
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out.strip() == "NOT_RELEASABLE"


def test_every_public_name_resolves_and_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for name in accord.__all__:
        assert getattr(accord, name) is not None
        assert f"`{name}" in text or name in text, f"{name} is not in docs/sdk.md"


def test_an_unknown_name_is_an_attribute_error():
    try:
        _ = accord.not_a_public_name  # type: ignore[attr-defined]
    except AttributeError:
        return
    raise AssertionError("accord exposes only __all__")
