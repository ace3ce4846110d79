"""Routes for partner nodes (a pinned partner certificate, admitted per agreement in force)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from accord.node.api.deps import Any_
from accord.node.api.models import (
    ConsentDecisionMessage,
    ConsentMessage,
    ConsentRequestMessage,
    DeliveryBatch,
    DeliveryBatchAnswer,
    DeliveryEnvelope,
    FinalReceiptMessage,
)
from accord.node.service import NodeService


def peer_routes(service: NodeService, wake: Callable[[], None]) -> APIRouter:
    """The partner API of ``service``."""
    router = APIRouter()

    # -- partner endpoints --------------------------------------------------------------------------

    @router.post("/v1/deliveries")
    def deliveries(env: DeliveryEnvelope, c: Any_, request: Request) -> dict[str, Any]:
        """A sealed item from a partner; answered with a signed receipt (the same one on a replay)."""
        # Served by accord.node.api.fast.deliveries (placed ahead in the app's router); this declaration is the
        # route's OpenAPI description and behaves the same when mounted alone.
        d = env.model_dump()
        d["at"] = env.at.isoformat()
        d["idem_key"] = request.headers.get("idempotency-key", "")
        out = service.receive_delivery(c, d)
        if out.get("status") != "stored":  # relayed or held at a hub: something was queued
            wake()
        return out

    @router.post("/v1/deliveries/batch", response_model=DeliveryBatchAnswer)
    def deliveries_batch(batch: DeliveryBatch, c: Any_, request: Request) -> Any:
        """Several sealed items from a partner in one request (at most 16, 1 MiB): each checked as ``POST
        /v1/deliveries`` checks it; one result per envelope (its receipt, or its problem document)."""
        # Served by accord.node.api.batch (on the app's hot path, ahead of FastAPI); this declaration is the
        # route's OpenAPI description and behaves the same when mounted alone.
        from accord.node.api.batch import BatchEntry, BatchRefused, check_entries, queued_any, receive_batch
        from accord.node.api.problems import PROBLEM

        entries = [BatchEntry(d.idempotency_key, d.envelope.model_dump(mode="json")) for d in batch.deliveries]
        try:
            check_entries(entries)
        except BatchRefused as e:
            return JSONResponse(e.doc, status_code=e.status, media_type=PROBLEM)
        results = receive_batch(service, c, entries, getattr(request.app.state, "storage_alarm", None))
        if queued_any(results):
            wake()
        return {"results": results}

    @router.post("/v1/peer/consent-requests")
    def peer_consent_request(msg: ConsentRequestMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        return service.receive_consent_request(c, d).to_dict()

    @router.post("/v1/peer/consent-decisions")
    def peer_consent_decision(msg: ConsentDecisionMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_consent_decision(c, d)
        wake()
        return out.to_dict()

    @router.post("/v1/peer/consents")
    def peer_consent(msg: ConsentMessage, c: Any_) -> dict[str, Any]:
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_consent(c, d)
        wake()
        return out.to_dict()

    @router.post("/v1/peer/final-receipts")
    def peer_final_receipt(msg: FinalReceiptMessage, c: Any_) -> dict[str, Any]:
        """The final recipient's signed receipt of an item this node sent through the calling hub (issue 10)."""
        d = msg.model_dump()
        d["at"] = msg.at.isoformat()
        out = service.receive_final_receipt(c, d)
        wake()  # a hub in a chain passes it further back
        return out

    return router
