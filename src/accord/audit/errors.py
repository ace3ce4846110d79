"""Errors of the audit log, on the roots of :mod:`accord.errors`."""

from __future__ import annotations

from accord.errors import AccordError, InputError, IntegrityError


class MalformedNoteError(InputError):
    """A signed note, checkpoint or verifier/signer key is not well-formed (C2SP signed-note)."""


class UnverifiedNoteError(IntegrityError):
    """No known key verified the note (or a known key's signature was invalid)."""


class AuditIntegrityError(IntegrityError):
    """The audit log failed verification. ``problems`` lists what was found (for the operator)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__()
        self.problems = problems

    def diagnostics(self) -> str:
        return "audit log verification failed:\n" + "\n".join(f"- {p}" for p in self.problems)


class EquivocationError(AccordError):
    """A log signed two checkpoints that cannot both be true. Carries both notes as evidence."""

    def __init__(self, origin: str, note_a: bytes, note_b: bytes, reason: str) -> None:
        self.origin = origin
        self.note_a = note_a
        self.note_b = note_b
        self.reason = reason
        super().__init__(f"equivocation by {origin}: {reason}")
