"""Exception handlers: every error becomes an RFC 9457 problem document; no traceback, no content."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.errors import AccordError
from accord.node.api.problems import PROBLEM, problem_body, problem_of, title
from accord.node.db.faults import RETRY_AFTER, StorageAlarm, storage_fault

log = logging.getLogger("accord.node")


def problem(status: int, kind: str, title_: str, detail: str, **ext: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, kind, title_, detail, **ext), status_code=status, media_type=PROBLEM)


def error_document(e: Exception, alarm: StorageAlarm | None) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The problem document (and headers) of an exception raised by a route -- one mapping for FastAPI's
    handlers, the hot path of :mod:`accord.node.api.fast` and each envelope of a batch: Accord's errors by their
    status, a storage fault as 507/503 with ``Retry-After`` (and the storage alarm raised), an HTTP error by its
    status, anything else 500 -- never a traceback or a value."""
    if isinstance(e, AccordError):
        doc = problem_of(e)  # one mapping for the API and the in-memory transport
        retry = getattr(e, "retry_after", None)  # backpressure (a full outbox): when to come back
        return doc, {"Retry-After": str(retry)} if isinstance(retry, int) else None
    if isinstance(e, StarletteHTTPException):
        return problem_body(e.status_code, "http", title(e.status_code), str(e.detail)), None
    kind = storage_fault(e) if isinstance(e, DBAPIError) else None
    if kind is not None:
        # Issue 9 (disk full, database away): the transaction was rolled back, nothing was acknowledged.
        if alarm is not None:
            alarm.fault(kind, e)
        retry_h = {"Retry-After": str(RETRY_AFTER[kind])}
        if kind == "full":
            detail = "the node's database volume is full: nothing was stored; retry once space is freed"
            return problem_body(
                507, "storage-full", "Insufficient storage", detail, retry_after=RETRY_AFTER[kind]
            ), retry_h
        detail = "the node's database is unavailable: nothing was stored; retry later"
        return problem_body(
            503, "storage-unavailable", "Service unavailable", detail, retry_after=RETRY_AFTER[kind]
        ), retry_h
    log.error("internal error: %s", type(e).__name__)
    return problem_body(500, "internal", "Internal error", "the node could not process the request"), None


def error_response(e: Exception, alarm: StorageAlarm | None) -> JSONResponse:
    """:func:`error_document` as the answer of a request."""
    doc, headers = error_document(e, alarm)
    return JSONResponse(doc, status_code=doc["status"], media_type=PROBLEM, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Map Accord's errors, validation errors, HTTP errors and anything unexpected to problem documents."""

    alarm = app.state.storage_alarm = StorageAlarm()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        # Report where and what, never the offending value (it may be classified content).
        errors = [
            {"loc": [str(x) for x in err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type")}
            for err in e.errors()
        ]
        return problem(422, "validation", "Invalid request", "the request does not match the schema", errors=errors)

    async def _mapped(_: Request, e: Exception) -> JSONResponse:
        return error_response(e, alarm)

    for cls in (AccordError, StarletteHTTPException, DBAPIError, Exception):
        app.add_exception_handler(cls, _mapped)
