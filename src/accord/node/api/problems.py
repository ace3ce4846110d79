"""RFC 9457 problem documents: one mapping from Accord's errors to an HTTP status and a body.

Used by the HTTP API (:mod:`accord.node.app`) and by the in-memory peer transport that tests use, so that
both answer a refused or malformed message the same way.
"""

from __future__ import annotations

from typing import Any

from accord.errors import AccordError, InputError, IntegrityError

PROBLEM = "application/problem+json"

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Unprocessable",
    500: "Internal error",
}


def title(status: int) -> str:
    return TITLES.get(status, "Error")


def problem_body(status: int, kind: str, title_: str, detail: str, **ext: Any) -> dict[str, Any]:
    return {
        "type": f"https://accord.invalid/problems/{kind}",
        "title": title_,
        "status": status,
        "detail": detail,
        **ext,
    }


def problem_of(e: AccordError) -> dict[str, Any]:
    """The problem document for an error Accord raised on purpose (its ``status`` is the HTTP status)."""
    title_ = "Integrity check failed" if isinstance(e, IntegrityError) else title(e.status)
    if isinstance(e, InputError) and e.status == 400:
        title_ = "Bad input"
    return problem_body(e.status, e.kind, title_, e.diagnostics(), **e.extensions())
