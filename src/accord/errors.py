"""Accord's error hierarchy, split by who is at fault (after python-tuf and sigstore-python).

- :class:`InputError`: a document or request given to Accord is malformed or inconsistent
  (an agreement, a label, a consent, a sealed item's structure). The message says which
  source, which field and what is wrong; nothing is changed.
- :class:`IntegrityError`: cryptographic verification failed. Its message is deliberately
  fixed and says nothing about which check failed, so that it cannot serve as an oracle.
"""

from __future__ import annotations


class AccordError(Exception):
    """Root of every error Accord raises on purpose."""

    def diagnostics(self) -> str:
        """A human-readable explanation, suitable for a CLI or an API problem document."""
        return str(self)


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

    def __init__(self, message: str = "integrity check failed") -> None:
        super().__init__(message)


class TrustError(AccordError):
    """A key, signer or roster is not trusted (unknown key id, broken rotation chain, rollback)."""


class ReleaseRefused(AccordError):
    """Sealing or re-wrapping for a recipient was refused because the decision denied it.

    Carries the recipient and the :class:`accord.core.decision.Decision` (typed ``object`` here so that
    this module does not import the core).
    """

    def __init__(self, recipient: str, decision: object, message: str | None = None) -> None:
        self.recipient = recipient
        self.decision = decision
        reasons = getattr(decision, "reasons", ())
        why = "; ".join(str(getattr(r, "message", r)) for r in reasons) if reasons else ""
        text = message or f"release to {recipient} refused" + (f": {why}" if why else "")
        super().__init__(text)
