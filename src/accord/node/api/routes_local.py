"""Routes for this nation's own systems (the node's own certificate): submit, forward, items, consents."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response

from accord.core.ids import ID_PATTERN
from accord.errors import InputError
from accord.node.api.deps import Any_, Local
from accord.node.api.models import (
    ConsentDecisionRequest,
    CustodyRequest,
    ForwardRequest,
    StandingConsentRequest,
    SubmitRequest,
)
from accord.node.results import Health
from accord.node.service import NodeService

#: A path parameter in the one id grammar (accord.core.ids): anything else is 422 before a handler runs.
ItemId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$", max_length=128)]
RequestId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$", max_length=128)]


def local_routes(service: NodeService, wake: Callable[[], None]) -> APIRouter:
    """The local API of ``service``; ``wake`` tells the delivery worker something was queued."""
    router = APIRouter()
    _item_routes(router, service, wake)
    _consent_routes(router, service, wake)
    return router


def _item_routes(router: APIRouter, service: NodeService, wake: Callable[[], None]) -> None:
    """Health; submit, read, forward an item; its status and custody."""

    @router.get("/v1/health")
    def health(c: Any_, request: Request) -> dict[str, Any]:
        """Liveness, for any authenticated caller; the node's own systems also see the audit and storage
        alarms."""
        audit = service.audit_health() if c.local else None  # quarantined / pending events (issue 9)
        alarm = getattr(request.app.state, "storage_alarm", None) if c.local else None  # disk full / db away
        storage = alarm.health() if alarm is not None else None
        return Health(service.party, True, c.party, audit, storage).to_dict()

    @router.post("/v1/items")
    def submit(req: SubmitRequest, _: Local) -> dict[str, Any]:
        """Decide, seal and queue the release of one of this nation's items (durable when answered)."""
        # Served by accord.node.api.fast.submit (placed ahead in the app's router); this declaration is the
        # route's OpenAPI description and behaves the same when mounted alone.
        try:
            payload = base64.b64decode(req.payload_b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError("payload_b64 is not base64", field="payload_b64") from e
        out = service.submit(req.label, payload, req.to, req.at, hub_approval=req.hub_approval)
        wake()
        return out.to_dict()

    @router.get("/v1/items/{item_id}")
    def item(item_id: ItemId, _: Local) -> dict[str, Any]:
        """Custody of one item: its label, marking, outbox, inbox and receipts."""
        return service.item_or_relay_status(item_id).to_dict()  # a blind hub: its relay status

    @router.get("/v1/items/{item_id}/payload", response_class=Response)
    def payload(
        item_id: ItemId,
        _: Local,
        person: Annotated[str, Header(alias="Accord-Person", max_length=100)],
        purpose: Annotated[str, Header(alias="Accord-Purpose", max_length=1500)],
    ) -> Response:
        """The plaintext of a held item, for a registered person with a stated (percent-encoded) purpose:
        decided by clearance and need-to-know, and audited, allowed or refused (JK-R7, JK-R15; issue 12)."""
        from accord.node.persons import person_read

        label, data = person_read(service, item_id, person, unquote(purpose))
        return Response(data, media_type="application/octet-stream", headers={"Accord-Banner": quote(label.banner)})

    @router.post("/v1/items/{item_id}/forward")
    def forward(item_id: ItemId, req: ForwardRequest, _: Local) -> dict[str, Any]:
        """Release a held item onward (third-party rule; may wait for the originator's consent)."""
        out = service.forward(item_id, req.to, req.at, req.purpose)
        wake()
        return out.to_dict()

    @router.post("/v1/items/{item_id}/custody")
    def custody(item_id: str, req: CustodyRequest, _: Local) -> dict[str, Any]:
        """Record a change of custody of a held item: returned, destroyed, compromised (JK-R13, JK-R26)."""
        return service.record_custody(item_id, req.state, req.note).to_dict()


def _consent_routes(router: APIRouter, service: NodeService, wake: Callable[[], None]) -> None:
    """Consent requests and decisions, standing consents; the outbox and the journal."""

    @router.get("/v1/consent-requests")
    def consent_list(
        _: Local, state: Annotated[str | None, Query(pattern="^(pending|approved|denied)$")] = None
    ) -> list[dict[str, Any]]:
        """Consent requests (incoming: for this nation's officer; outgoing: ours to originators)."""
        return [r.to_dict() for r in service.consent_requests(state)]

    @router.post("/v1/consent-requests/{request_id}/approve")
    def consent_approve(request_id: RequestId, req: ConsentDecisionRequest, _: Local) -> dict[str, Any]:
        out = service.decide_consent(request_id, True, req.officer, req.reason, req.until)
        wake()
        return out.to_dict()

    @router.post("/v1/consent-requests/{request_id}/deny")
    def consent_deny(request_id: RequestId, req: ConsentDecisionRequest, _: Local) -> dict[str, Any]:
        out = service.decide_consent(request_id, False, req.officer, req.reason)
        wake()
        return out.to_dict()

    @router.post("/v1/consents/standing")
    def standing(req: StandingConsentRequest, _: Local) -> dict[str, Any]:
        """Grant a standing consent to a holder (applies there at once, e.g. TISA missile warnings)."""
        out = service.grant_standing(req.holder, req.recipient, req.topics, req.granted, req.until, req.officer)
        wake()
        return out.to_dict()

    @router.get("/v1/outbox")
    def outbox(
        _: Local, state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None
    ) -> list[dict[str, Any]]:
        return [m.to_dict() for m in service.outbox_messages(state)]

    @router.get("/v1/events")
    def events(_: Local, item_id: str | None = None) -> list[dict[str, Any]]:
        return [e.to_dict() for e in service.event_records(item_id)]
