"""STANAG 4778 metadata binding (ADatP-4778 Ed. A; schema 1.4): labels bound to a data object.

Accord writes one ``mb:BindingInformation`` per item (``docs/labels.md``)::

    mb:BindingInformation
      mb:MetadataBindingContainer Id="mbc-1"
        mb:MetadataBinding Id="mb-1"
          mb:Metadata   slab:originatorConfidentialityLabel   (one label per Metadata)
          mb:Metadata   slab:alternativeConfidentialityLabel  (0..n, receiving nations)
          mb:DataReference URI="ni:///sha-384;…"              (RFC 6920: the data object's digest)
      accord:BindingSignature party="KOR" keyid="…"  base64   (urn:accord:label:1; schema-valid as ##other)

The signature is not XML-DSig: Accord's party keys are hybrid (ECDSA P-384 + ML-DSA-87,
:mod:`accord.sealed.suites`), for which XML-DSig has no algorithm URI, so the binding is signed with the
party's own signing key over ``DS_BINDING ‖ party ‖ LF ‖ keyid ‖ LF ‖ C14N`` where C14N is the exclusive
canonical form (without comments) of the ``BindingInformation`` with the signature element and
whitespace-only text removed. A verifier needs the trust roster: the signer must be the originator
named by the originator label's policy, and the data object's SHA-384 digest must be the one bound.

Reading accepts other tools' bindings (labels are read from every ``mb:Metadata``; an ``ds:Signature``
is noted but not verified; a label given by ``mb:MetadataReference`` is refused, as it cannot be read).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from accord.core.labels import Label
from accord.errors import IntegrityError, LabelError, TrustError
from accord.formats.stanag4774 import (
    ACCORD_NS,
    LabelDocument,
    label_element,
    originator_of,
    parse_label_element,
    parse_xml,
)


class BindingSigner(Protocol):
    """A party's signing keys (:class:`accord.sealed.keys.PartyKeys` is one)."""

    @property
    def party(self) -> str: ...

    @property
    def sign_key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """The party's signature of ``message``."""
        ...


class SignatureChecker(Protocol):
    """The verifier's trusted keys (:class:`accord.sealed.verifiers.RosterKeys`: the pinned roster)."""

    def check(self, party: str, keyid: str, signature: bytes, message: bytes) -> None:
        """Raise :class:`TrustError` for a key not trusted, :class:`IntegrityError` for a bad signature."""
        ...


NS = "urn:nato:stanag:4778:bindinginformation:1:0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_M = f"{{{NS}}}"
SIG_TAG = f"{{{ACCORD_NS}}}BindingSignature"
DS_BINDING = b"accord/stanag4778-binding/v1\n"
MAX_BINDING_BYTES = 1024 * 1024
_NI_PREFIX = "ni:///sha-384;"


def data_uri(data: bytes) -> str:
    """The RFC 6920 named-information URI of ``data``'s SHA-384 digest (the digest 4778 mandates)."""
    digest = base64.urlsafe_b64encode(hashlib.sha384(data).digest()).rstrip(b"=").decode()
    return _NI_PREFIX + digest


@dataclass(frozen=True, slots=True)
class BindingSignature:
    """Accord's signature of a binding: the signing party, its key id and the signature bytes."""

    party: str
    keyid: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Binding:
    """A 4778 ``BindingInformation`` as read.

    Attributes:
        labels: every 4774 label bound, in document order.
        data_refs: the ``DataReference`` URIs (``inline`` for an ``mb:Data``).
        signature: Accord's binding signature, if any.
        xmldsig: whether the document carries ``ds:Signature`` elements (not verified by Accord).
    """

    labels: list[LabelDocument]
    data_refs: tuple[str, ...]
    signature: BindingSignature | None
    xmldsig: bool

    @property
    def originator(self) -> Label:
        """The one originator label of the binding."""
        return originator_of(self.labels)


def _signed_bytes(root: etree._Element, party: str, keyid: str) -> bytes:
    tree = copy.deepcopy(root)
    for sig in tree.findall(SIG_TAG):
        tree.remove(sig)
    for el in tree.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    c14n = etree.tostring(tree, method="c14n", exclusive=True, with_comments=False)
    return DS_BINDING + party.encode() + b"\n" + keyid.encode() + b"\n" + c14n


def bind(label: Label, data: bytes, *, alternatives: Sequence[Label] = (), keys: BindingSigner | None = None) -> bytes:
    """A ``BindingInformation`` binding ``label`` (and alternative labels) to ``data`` by its digest,
    signed with ``keys`` when given (the originator's own keys: a party signs only its own labels)."""
    if keys is not None and keys.party != label.originator:
        raise LabelError(
            f"the keys are {keys.party}'s but the label's originator is {label.originator}: a party "
            "binds only the labels it originates",
            field="keys",
        )
    root = etree.Element(f"{_M}BindingInformation", nsmap={"mb": NS, "accord": ACCORD_NS})
    container = etree.SubElement(root, f"{_M}MetadataBindingContainer", Id="mbc-1")
    binding = etree.SubElement(container, f"{_M}MetadataBinding", Id="mb-1")
    etree.SubElement(binding, f"{_M}Metadata").append(label_element(label))
    seen = {label.originator}
    for alt in alternatives:
        if alt.originator in seen:
            raise LabelError(f"two labels under the {alt.originator} policy in one binding", field="alternatives")
        if alt.id != label.id:
            raise LabelError("an alternative label names another item", field="alternatives")
        seen.add(alt.originator)
        etree.SubElement(binding, f"{_M}Metadata").append(label_element(alt, "alternative", party=alt.originator))
    etree.SubElement(binding, f"{_M}DataReference", URI=data_uri(data))
    if keys is not None:
        kid = keys.sign_key_id
        sig = keys.sign(_signed_bytes(root, keys.party, kid))
        el = etree.SubElement(root, SIG_TAG, party=keys.party, keyid=kid)
        el.text = base64.b64encode(sig).decode()
    etree.indent(root, space="  ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _signature(root: etree._Element, source: str | None) -> BindingSignature | None:
    sigs = list(root.iter(SIG_TAG))
    if not sigs:
        return None
    if len(sigs) > 1 or sigs[0].getparent() is not root:
        raise LabelError(
            "more than one binding signature, or one out of place: refusing", source=source, field="BindingSignature"
        )
    el = sigs[0]
    party, keyid = el.get("party"), el.get("keyid")
    try:
        value = base64.b64decode((el.text or "").strip(), validate=True)
    except ValueError:
        value = b""
    if not party or not keyid or not value:
        raise LabelError("binding signature lacks party, keyid or value", source=source, field="BindingSignature")
    return BindingSignature(party, keyid, value)


def parse_binding_element(root: etree._Element, *, source: str | None = None) -> Binding:
    """Read a ``mb:BindingInformation`` element (labels, data references, signature)."""
    if root.tag != f"{_M}BindingInformation":
        raise LabelError(f"expected mb:BindingInformation in namespace {NS}, got {root.tag}", source=source)
    containers = root.findall(f"{_M}MetadataBindingContainer")
    if not containers:
        raise LabelError("no MetadataBindingContainer", source=source, field="BindingInformation")
    labels: list[LabelDocument] = []
    refs: list[str] = []
    for container in containers:
        bindings = container.findall(f"{_M}MetadataBinding")
        if not bindings:
            raise LabelError(
                "a MetadataBindingContainer has no MetadataBinding", source=source, field="MetadataBindingContainer"
            )
        for binding in bindings:
            metas = 0
            datas = 0
            for child in binding:
                if child.tag == f"{_M}MetadataReference":
                    raise LabelError(
                        "metadata given by reference (MetadataReference) cannot be read: refusing a "
                        "binding whose label is elsewhere",
                        source=source,
                        field="MetadataReference",
                    )
                if child.tag == f"{_M}Metadata":
                    metas += 1
                    inner = list(child)
                    if len(inner) != 1 or (child.text or "").strip():
                        raise LabelError(
                            "an mb:Metadata must hold exactly one element (one label per Metadata)",
                            source=source,
                            field="Metadata",
                        )
                    if str(inner[0].tag).startswith("{urn:nato:stanag:4774:"):
                        labels.append(parse_label_element(inner[0], source=source))
                elif child.tag == f"{_M}DataReference":
                    datas += 1
                    uri = child.get("URI")
                    if not uri:
                        raise LabelError("DataReference has no URI", source=source, field="DataReference")
                    refs.append(uri)
                elif child.tag == f"{_M}Data":
                    datas += 1
                    refs.append("inline")
            if not metas or not datas:
                raise LabelError(
                    "a MetadataBinding needs Metadata and Data (or their references)",
                    source=source,
                    field="MetadataBinding",
                )
    ids = [d.label_id for d in labels if d.label_id is not None]
    if len(ids) != len(set(ids)):
        raise LabelError("two labels in the binding carry the same Id", source=source, field="Id")
    return Binding(labels, tuple(refs), _signature(root, source), root.find(f"{{{DS_NS}}}Signature") is not None)


def read_binding(data: bytes, *, source: str | None = None) -> Binding:
    """Parse a ``BindingInformation`` document (bounded, no DTD/entities/network)."""
    return parse_binding_element(parse_xml(data, source=source, limit=MAX_BINDING_BYTES), source=source)


@dataclass(frozen=True, slots=True)
class VerifiedBinding:
    """A binding whose signature, signer and data digest verified."""

    label: Label
    alternatives: tuple[Label, ...]
    signer: str
    keyid: str
    data_uri: str


def verify_binding(
    document: bytes, data: bytes, roster: SignatureChecker, *, source: str | None = None
) -> VerifiedBinding:
    """Check a binding: Accord's signature by a key in ``roster`` (``RosterKeys(Roster.load(...))``), the signer
    being the originator that the originator label names, and ``data`` being the object bound (its SHA-384 digest).

    Raises:
        LabelError: the document is malformed (bad input).
        TrustError: not signed, signed by a party other than the originator, or by a key not in the roster.
        IntegrityError: the signature or the data digest does not verify (the message never says which).
    """
    root = parse_xml(document, source=source, limit=MAX_BINDING_BYTES)
    if root.tag != f"{_M}BindingInformation":
        raise LabelError(f"expected mb:BindingInformation in namespace {NS}, got {root.tag}", source=source)
    sig = _signature(root, source)
    if sig is None:
        raise TrustError(
            "the binding carries no Accord binding signature (an XML-DSig ds:Signature is not verified by Accord)"
        )
    roster.check(sig.party, sig.keyid, sig.value, _signed_bytes(root, sig.party, sig.keyid))
    binding = parse_binding_element(root, source=source)
    label = originator_of(binding.labels, source=source)
    if sig.party != label.originator:
        raise TrustError(f"the binding is signed by {sig.party}, but the label's originator is {label.originator}")
    uri = data_uri(data)
    if uri not in binding.data_refs:
        raise IntegrityError()
    alts = tuple(d.label for d in binding.labels if d.kind == "alternative")
    return VerifiedBinding(label, alts, sig.party, sig.keyid, uri)
