"""Routes of the life of an item (issue 10): reclassification, freeze, purpose, compromise, derived items, and
the partner route that carries custody notices (:mod:`accord.node.flow.notices`)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from accord.core.ids import ID_PATTERN
from accord.errors import InputError
from accord.node.api.deps import Any_, Local
from accord.node.api.models import MAX_PAYLOAD
from accord.node.service import NodeService

ItemId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$", max_length=128)]
Digest = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]
Text = Annotated[str, Field(max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReclassifyRequest(_Strict):
    classification: str = Field(min_length=1, max_length=100, description="the new classification (JK-R12)")
    note: Text = ""
    at: dt.date | None = None


class FreezeRequest(_Strict):
    note: Text = ""
    at: dt.date | None = None


class PurposeRequest(_Strict):
    purpose: str = Field(min_length=1, max_length=500, description="the purpose the item is provided for (JK-R7)")
    at: dt.date | None = None


class CompromiseRequest(_Strict):
    stage: str = Field(pattern="^(SUSPECTED|NOTIFIED|INVESTIGATING|REPORTED)$", description="JK-R26 stage")
    note: Text = ""
    at: dt.date | None = None


class DeriveRequest(_Strict):
    kind: str = Field(pattern="^(reproduction|translation|extract)$")
    sources: list[Annotated[str, Field(pattern=f"^{ID_PATTERN}$", max_length=128)]] = Field(
        default_factory=list, max_length=63, description="further sources (besides the item in the path)"
    )
    new_id: Annotated[str, Field(pattern=f"^{ID_PATTERN}$", max_length=128)] | None = None
    language: str | None = Field(default=None, max_length=35, description="a translation's language")
    at: dt.date | None = None
    content_b64: str | None = Field(
        default=None, max_length=MAX_PAYLOAD * 4 // 3 + 4, description="the derived content, base64 (with `to`)"
    )
    to: str | None = Field(default=None, max_length=3, description="release the derived item at once to this party")
    purpose: str | None = Field(default=None, max_length=500, description="the purpose of the release (JK-R7)")


class ReleaseDerivedRequest(_Strict):
    content_b64: str = Field(max_length=MAX_PAYLOAD * 4 // 3 + 4, description="the derived content, base64")
    to: str = Field(max_length=3, description="the recipient (the originator, or a party its sources may go to)")
    purpose: str | None = Field(default=None, max_length=500, description="the purpose of the release (JK-R7)")
    at: dt.date | None = None


def _content(text: str | None) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError("content_b64 is not base64", field="content_b64") from e


class CustodyNoticeMessage(_Strict):
    notice: dict[str, Any]
    covers: dict[Annotated[str, Field(max_length=128)], str | None] = Field(default_factory=dict, max_length=64)
    at: dt.date


def custody_routes(service: NodeService, wake: Callable[[], None]) -> APIRouter:
    """The local and partner routes of custody notices of ``service``."""
    router = APIRouter()
    _change_routes(router, service, wake)
    _read_routes(router, service, wake)
    return router


def _change_routes(router: APIRouter, service: NodeService, wake: Callable[[], None]) -> None:
    """The originator's notices and the holder's reports (each queues signed messages: the worker is woken)."""

    def sent(out: dict[str, Any]) -> dict[str, Any]:
        wake()  # a notice or report was queued: the delivery worker sends it at once
        return out

    @router.post("/v1/items/{item_id}/reclassify")
    def reclassify(item_id: ItemId, req: ReclassifyRequest, _: Local) -> dict[str, Any]:
        """The originator reclassifies its item (upgrade, downgrade, declassification): a signed notice to every
        holder, passed on to those they released it to, each acknowledging it (JK-R12)."""
        return sent(
            service.issue_notice(
                item_id, "reclassification", classification=req.classification, note=req.note, at=req.at
            )
        )

    @router.post("/v1/items/{item_id}/freeze")
    def freeze(item_id: ItemId, req: FreezeRequest, _: Local) -> dict[str, Any]:
        """The originator freezes further release of its item and every item derived from it (JK-R26)."""
        return sent(service.issue_notice(item_id, "freeze", note=req.note, at=req.at))

    @router.post("/v1/items/{item_id}/unfreeze")
    def unfreeze(item_id: ItemId, req: FreezeRequest, _: Local) -> dict[str, Any]:
        """The originator lifts its freeze (JK-R26)."""
        return sent(service.issue_notice(item_id, "unfreeze", note=req.note, at=req.at))

    @router.post("/v1/items/{item_id}/purpose")
    def purpose(item_id: ItemId, req: PurposeRequest, _: Local) -> dict[str, Any]:
        """The originator states the purpose its item is provided for; another purpose needs its approval (JK-R7)."""
        return sent(service.issue_notice(item_id, "purpose", purpose=req.purpose, at=req.at))

    @router.post("/v1/items/{item_id}/compromise")
    def compromise(item_id: ItemId, req: CompromiseRequest, _: Local) -> dict[str, Any]:
        """A holder records the next stage of a loss or compromise; the originator is told at once (JK-R26)."""
        return sent(service.report_compromise(item_id, req.stage, req.note, req.at))

    @router.post("/v1/items/{item_id}/derive")
    def derive(item_id: ItemId, req: DeriveRequest, _: Local) -> dict[str, Any]:
        """A reproduction, translation or extract of held items (JK-R5, JK-R23, JK-R24); the originator is told."""
        if (req.to is None) != (req.content_b64 is None):
            raise InputError("give the derived content and its recipient together", field="to")
        content = _content(req.content_b64) if req.to is not None else b""
        out = service.derive_item([item_id, *req.sources], req.kind, req.new_id, req.language, req.at)
        if req.to is not None:  # sealed and signed here, decided like its sources (JK-R5, JK-R6)
            out["release"] = service.release_derived(out["item"], content, req.to, req.at, req.purpose)
        return sent(out)

    @router.post("/v1/items/{item_id}/release-derived")
    def release_derived(item_id: ItemId, req: ReleaseDerivedRequest, _: Local) -> dict[str, Any]:
        """As holder: seal the content of an item derived here, sign it and release it where its sources may go
        (back to the originator always; to a third party with the originator's consent: JK-R5, JK-R6)."""
        return sent(service.release_derived(item_id, _content(req.content_b64), req.to, req.at, req.purpose))


def _read_routes(router: APIRouter, service: NodeService, wake: Callable[[], None]) -> None:
    """Reads of notices, records, decisions and alarms; the partner route."""

    @router.get("/v1/items/{item_id}/notices")
    def notices(item_id: ItemId, _: Local) -> list[dict[str, Any]]:
        """Custody notices about an item here; for the originator, per holder: sent or acknowledged."""
        return service.item_notices(item_id)

    @router.get("/v1/custody/items/{item_id}")
    def custody_record(item_id: ItemId, _: Local) -> dict[str, Any]:
        """This node's custody record of a held item (received or derived here), with its notices."""
        return service.custody_record(item_id)

    @router.get("/v1/custody/items/{item_id}/decision")
    def custody_decision(
        item_id: ItemId,
        _: Local,
        to: Annotated[str, Query(pattern="^[A-Z]{3}$")],
        at: dt.date | None = None,
        purpose: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        """Whether a held (or derived) item may go to ``to``: the decision under its custody, nothing released."""
        return service.custody_decision(item_id, to, at, purpose)

    @router.get("/v1/custody/notices/{digest}")
    def notice(digest: Digest, _: Local) -> dict[str, Any]:
        return service.notice_status(digest)

    @router.get("/v1/custody/alarms")
    def alarms(_: Local) -> list[dict[str, Any]]:
        """Losses or compromises of this nation's items reported by holders (JK-R26), newest first."""
        return service.custody_alarms()

    @router.post("/v1/peer/custody-notices")
    def peer_notice(msg: CustodyNoticeMessage, c: Any_) -> dict[str, Any]:
        """A signed custody notice, report or acknowledgement from a partner node."""
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_custody_notice(c, d)
        wake()  # it may have queued forwards and an acknowledgement
        return out
