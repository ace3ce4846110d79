"""Accord's one error hierarchy, split by who is at fault (after python-tuf and sigstore-python).

Every error says whose fault it is (:attr:`AccordError.fault`) and how an HTTP API answers it
(:attr:`AccordError.status`, :attr:`AccordError.kind`, :meth:`AccordError.extensions`):

- the input (``fault = "input"``): :class:`InputError` -- a document or request given to Accord is
  malformed or inconsistent (an agreement, a label, a consent, a sealed item's structure); the message
  says which source, which field and what is wrong; nothing is changed. :class:`NotFound`,
  :class:`Conflict` and :class:`ReleaseRefused` (the agreements in force do not allow what was asked;
  carries the :class:`~accord.core.decision.Decision`) are the input's too.
- the peer (``fault = "peer"``): :class:`IntegrityError` -- cryptographic verification failed; its
  message is deliberately fixed and says nothing about which check failed, so that it cannot serve as an
  oracle. :class:`PeerRefused` -- a partner that may not talk to this node, or not about this.
  :class:`TrustError` -- a key, signer or roster is not trusted.
- us (``fault = "us"``): :class:`Busy` -- this node cannot do it now; the caller retries.

Every refusal (the answer "no", as opposed to "malformed") is a :class:`Refusal`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Fault = Literal["input", "peer", "us"]


class AccordError(Exception):
    """Root of every error Accord raises on purpose."""

    fault: ClassVar[Fault] = "input"
    status: ClassVar[int] = 400
    kind: ClassVar[str] = "bad-input"

    def diagnostics(self) -> str:
        """A human-readable explanation, suitable for a CLI or an API problem document."""
        return str(self)

    def extensions(self) -> dict[str, Any]:
        """Members an API problem document adds (RFC 9457 extensions); never classified content."""
        return {}


class InputError(AccordError, ValueError):
    """Bad input: malformed or inconsistent data. Carries where and what.

    Args:
        message: what is wrong.
        source: the file or document the input came from (optional).
        field: the dotted path of the offending field (optional).
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.source = source
        self.field = field
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        where = ": ".join(p for p in (self.source, self.field) if p)
        return f"{where}: {self.message}" if where else self.message

    def extensions(self) -> dict[str, Any]:
        return {"field": self.field}


class AgreementError(InputError):
    """An agreement document is invalid."""


class SpifError(AgreementError):
    """A national policy (SPIF) is invalid or contradicts an agreement (a world document, like an agreement)."""


class LabelError(InputError):
    """A security label is invalid."""


class ConsentError(InputError):
    """A consent document is invalid."""


class IntegrityError(AccordError):
    """A signature, tag or digest did not verify. The message never says which."""

    fault = "peer"
    status = 422
    kind = "integrity"

    def __init__(self, message: str = "integrity check failed") -> None:
        super().__init__(message)


class TrustError(AccordError):
    """A key, signer or roster is not trusted (unknown key id, broken rotation chain, rollback)."""

    fault = "peer"


class Refusal(AccordError):
    """The answer is no (as opposed to: the request is malformed). HTTP 403.

    ``details`` are extra members for an API problem document (never classified content).
    """

    status = 403
    kind = "refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def extensions(self) -> dict[str, Any]:
        return dict(self.details)


class PeerRefused(Refusal):
    """The calling partner is not a party to an agreement in force with this node, or not allowed here."""

    fault = "peer"
    kind = "peer-refused"


class NotFound(InputError):
    """What was asked for is not here."""

    status = 404
    kind = "not-found"

    def __init__(self, message: str, **_: Any) -> None:
        super().__init__(message)

    def extensions(self) -> dict[str, Any]:
        return {}


class Conflict(InputError):
    """The request contradicts what is already stored (e.g. a replay with other content)."""

    status = 409
    kind = "conflict"

    def __init__(self, message: str, **_: Any) -> None:
        super().__init__(message)

    def extensions(self) -> dict[str, Any]:
        return {}


class Busy(AccordError):
    """A concurrent request is storing the same thing; the caller retries (and then gets a replay)."""

    fault = "us"
    status = 503
    kind = "retry"


class ReleaseRefused(Refusal):
    """A release (sealing, re-wrapping, submitting, forwarding, receiving) is refused because the decision
    denied it -- the one refusal of the agreements, whichever layer found it.

    Carries the recipient and the :class:`accord.core.decision.Decision` (typed ``object`` here so that
    this module does not import the core); its problem document carries the decision with its reasons.
    """

    kind = "release-refused"

    def __init__(self, recipient: str, decision: object, message: str | None = None) -> None:
        self.recipient = recipient
        self.decision = decision
        reasons = getattr(decision, "reasons", ())
        why = "; ".join(str(getattr(r, "message", r)) for r in reasons) if reasons else ""
        text = message or f"release to {recipient} refused" + (f": {why}" if why else "")
        to_dict = getattr(decision, "to_dict", None)
        super().__init__(text, **({"decision": to_dict()} if callable(to_dict) else {}))
