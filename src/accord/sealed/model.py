"""The sealed format's result types: what a verified item says, what opening or inspecting it gives.

Plain data, no I/O and no decision (see :mod:`accord.sealed.plan` for what a release asks to be sealed).
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.core.labels import Label
from accord.sealed import labelxml


@dataclass(frozen=True)
class Grant:
    """A recipient able to open the item: granted by the originator or by a hub's re-wrap."""

    party: str
    keyid: str
    granted_by: str
    route: tuple[str, ...]
    agreements: tuple[str, ...]


@dataclass(frozen=True)
class Relay:
    """An onward destination the originator asked a hub to re-wrap for (signed in the statement)."""

    to: str
    via: tuple[str, ...]
    route: tuple[str, ...]
    agreements: tuple[str, ...]


@dataclass(frozen=True)
class AltLabel:
    """A receiving nation's ``alternativeConfidentialityLabel`` (its own marking), signed by it."""

    party: str
    keyid: str
    xml: bytes


@dataclass(frozen=True)
class ManifestInfo:
    format: str
    version: int
    suite: str
    holder: str
    signer: str
    signer_keyid: str
    at: str
    item_id: str
    size: int
    segment_size: int
    segments: int
    root: str
    mime_type: str


@dataclass(frozen=True)
class Opened:
    """An opened item. ``payload`` is None when the plaintext went to a stream or file."""

    label_xml: bytes
    label: Label | None
    payload: bytes | None
    manifest: ManifestInfo
    signer: str
    recipients: tuple[Grant, ...]
    relays: tuple[Relay, ...]
    alternative_labels: tuple[AltLabel, ...]

    @property
    def banner(self) -> str:
        return labelxml.banner(self.label_xml, self.label)

    @property
    def holder(self) -> str:
        return self.manifest.holder

    @property
    def item_id(self) -> str | None:
        """The id in the signed label (STANAG 4774 ``@Id``), which a node uses to name the item."""
        return self.label.id if self.label is not None else None


@dataclass(frozen=True)
class Inspection:
    """What can be learnt and checked without decrypting."""

    banner: str
    label_xml: bytes
    manifest: ManifestInfo
    suite_description: str
    recipients: tuple[Grant, ...]
    relays: tuple[Relay, ...]
    alternative_labels: tuple[AltLabel, ...]
    signature: str  # "valid", "invalid", "untrusted", "not checked"
    payload: str  # "intact", "corrupt", "not checked"
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.signature == "valid" and self.payload == "intact"
