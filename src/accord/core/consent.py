"""Consents: the originator's written approval of an onward release.

The third-party rule (JK-R6, US-R2, N-R4) forbids a holder that is not the originator to
release an item to anyone else without the originator's prior written approval. A
:class:`Consent` is that approval: for one item (by id) or for a class of items (by topic), from
a named holder to a named recipient, from a date until a date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from accord.core.labels import Caveat, Label
from accord.core.parties import is_alpha3, is_text
from accord.errors import ConsentError


@dataclass(frozen=True, slots=True)
class Consent:
    """The originator's approval for ``holder`` to release to ``recipient``.

    Attributes:
        id: reference of the consent document.
        originator: the nation whose information it is (the only one that can consent).
        holder: the nation allowed to release.
        recipient: the nation it may release to.
        granted: first day the consent applies.
        until: last day the consent applies (inclusive).
        item: the item id it covers, or None for a class of items.
        topics: for a class consent, the topics it covers (every topic of the item must be in it).
        standing: True for a standing consent recorded in advance (e.g. TISA missile warnings).
    """

    id: str
    originator: str
    holder: str
    recipient: str
    granted: date
    until: date
    item: str | None = None
    topics: frozenset[str] = frozenset()
    standing: bool = False

    def __post_init__(self) -> None:
        if not is_text(self.id):
            raise ConsentError("consent id is missing", field="id")
        for name in ("originator", "holder", "recipient"):
            if not is_alpha3(getattr(self, name)):
                raise ConsentError(f"{getattr(self, name)!r} is not an ISO 3166 alpha-3 code", field=name)
        if self.holder == self.recipient:
            raise ConsentError("holder and recipient are the same party", field="recipient")
        if self.originator == self.holder:
            raise ConsentError("an originator needs no consent to release its own information", field="holder")
        if not all(isinstance(d, date) for d in (self.granted, self.until)):
            raise ConsentError("granted and until must be dates", field="until")
        if self.until < self.granted:
            raise ConsentError(f"until {self.until} is before granted {self.granted}", field="until")
        object.__setattr__(self, "topics", frozenset(self.topics))
        if self.item is None and not self.topics:
            raise ConsentError("a consent names an item or at least one topic", field="item")

    def covers(self, label: Label, holder: str, recipient: str, on: date) -> bool:
        """True when this consent approves releasing ``label``'s item from holder to recipient on ``on``."""
        if (
            self.originator != label.originator
            or self.holder != holder
            or self.recipient != recipient
            or not self.granted <= on <= self.until
        ):
            return False
        if self.item is not None:
            return label.id is not None and self.item == label.id
        # A class consent never covers an ORCON item: ORCON wants item-by-item approval.
        if Caveat.ORIGINATOR_CONTROL in label.caveats:
            return False
        return bool(label.topics) and label.topics <= self.topics
