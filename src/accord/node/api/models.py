"""Request models of the node's HTTP API: every input validated, unknown fields refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3 party code")]
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")]
MAX_PAYLOAD = 64 * 1024 * 1024


# ---------------------------------------------------------------------------------------------------
# request models (every input validated; unknown fields refused)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequest(_Strict):
    label: dict[str, Any] = Field(description="the originator's label (accord label JSON)")
    to: Party
    payload_b64: str = Field(max_length=MAX_PAYLOAD * 4 // 3 + 4, description="the item, base64")
    at: dt.date | None = Field(default=None, description="decision date (what-if nodes only; default today)")
    hub_approval: bool = Field(
        default=True,
        description="false: the relay carries no approval; each hub holds the item for this node's officer (T-R5)",
    )


class ForwardRequest(_Strict):
    to: Party
    at: dt.date | None = None
    purpose: str | None = Field(default=None, max_length=500, description="the purpose of this release (JK-R7)")


class CustodyRequest(_Strict):
    state: str = Field(pattern=r"^(HELD|RETURNED|DESTROYED|COMPROMISED)$", description="the new custody state")
    note: str = Field(default="", max_length=2000)


class ConsentDecisionRequest(_Strict):
    officer: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    until: dt.date | None = None


class StandingConsentRequest(_Strict):
    holder: Party
    recipient: Party
    topics: list[Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9._/-]{0,63}$")]] = Field(min_length=1)
    granted: dt.date
    until: dt.date
    officer: str = Field(min_length=1, max_length=200)


class DeliveryEnvelope(_Strict):
    item_id: ItemId
    sender: Party
    final_recipient: Party
    at: dt.date
    sealed: str = Field(max_length=MAX_PAYLOAD * 2)
    consents: list[dict[str, Any]] = Field(default_factory=list, max_length=16)


class DeliveryBatchItem(_Strict):
    """One delivery of a batch: the ``Idempotency-Key`` a single delivery carries in its header, and its envelope."""

    idempotency_key: str = Field(max_length=300)
    envelope: DeliveryEnvelope


class DeliveryBatch(_Strict):
    """Several deliveries from one partner in one request (issue 8): at most 16 and 1 MiB; no idempotency key
    and no item id twice. Each envelope is checked as ``POST /v1/deliveries`` checks it."""

    deliveries: list[DeliveryBatchItem] = Field(min_length=1, max_length=16)


class DeliveryResult(BaseModel):
    """One envelope's result: ``status`` 200 with the signed receipt as ``answer`` (what ``POST /v1/deliveries``
    answers), or that envelope's problem document with its status."""

    item_id: str | None
    idempotency_key: str
    status: int
    answer: dict[str, Any]


class DeliveryBatchAnswer(BaseModel):
    """One result per envelope, in the request's order."""

    results: list[DeliveryResult]


class ConsentRequestMessage(_Strict):
    request_id: str = Field(min_length=1, max_length=300)
    item_id: ItemId
    originator: Party
    holder: Party
    recipient: Party
    label: dict[str, Any]
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    statement: str | None = Field(default=None, pattern=r"^[0-9a-f]{96}$")  # SHA-384 of the signed statement
    at: dt.date
    reasons: list[dict[str, Any]] = Field(default_factory=list)


class ConsentDecisionMessage(_Strict):
    request_id: str = Field(min_length=1, max_length=300)
    approved: bool
    officer: str = Field(max_length=200)
    reason: str = Field(default="", max_length=2000)
    at: dt.date
    consent: dict[str, Any] | None = None


class FinalReceiptMessage(_Strict):
    """A hub passes back the final recipient's signed receipt of a relayed item (issue 10)."""

    item_id: str = Field(min_length=1, max_length=300)
    final_recipient: str = Field(min_length=3, max_length=3)
    at: dt.date
    receipt: dict[str, Any]
    signature: str = Field(max_length=200)
    via: list[str] = Field(min_length=1, max_length=8)


class ConsentMessage(_Strict):
    consent: dict[str, Any]
    officer: str = Field(max_length=200)
    at: dt.date


# ---------------------------------------------------------------------------------------------------
