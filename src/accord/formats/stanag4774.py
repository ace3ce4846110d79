"""STANAG 4774 confidentiality labels in XML (ADatP-4774 Ed. A V1, schema 1.3; ``docs/labels.md``).

Mapping of an Accord :class:`~accord.core.labels.Label` onto ``slab:originatorConfidentialityLabel``:

- ``PolicyIdentifier``: the originator's alpha-3 code (the national policy), or ``NATO``;
- ``Classification``: the national marking (``군사Ⅱ급비밀``);
- Category ``Topic`` (RESTRICTIVE): the topics (need-to-know requires all);
- Category ``Releasable To`` (PERMISSIVE): alpha-3 codes (or groups: ``NATO``, ``EU``);
- Category ``Only`` (PERMISSIVE): the originator alone (originator's nation only), or NATO's use: a
  list of nations and groups the item may reach, and no other;
- Category ``Dissemination Control`` (RESTRICTIVE) with ``ORCON``: originator control;
- ``@Id``: a *label* identifier (an XML ``NCName``, ``olab.…``), never the item id;
  ``@accord:ItemId`` (namespace ``urn:accord:label:1``): the item id;
- ``@ReviewDateTime``: always written unless there is ``SuccessionHandling`` (ADatP-4774 §4.3);
  a label without a review date is written as due for review at its creation;
- ``CreationDateTime``; ``SuccessionHandling`` (a chain of successors).

Reading is strict and safe (no DTDs, entities or network; size bounded), and refuses ambiguity
rather than resolving it: two ``Classification`` or ``PolicyIdentifier`` elements, a category
repeated, a value repeated, a byte-order mark that contradicts the declared encoding. Category tag
names are matched case-insensitively (the standard's ``Releasable to`` is ``Releasable To``). A
RESTRICTIVE or PERMISSIVE category Accord does not understand is refused (fail closed);
INFORMATIVE ones are ignored, as the standard says. ``URI`` attributes are checked when present.

The module is in three parts: the model (:mod:`~accord.formats.stanag4774_model`), writing
(:mod:`~accord.formats.stanag4774_write`) and reading (:mod:`~accord.formats.stanag4774_read`); every
public name is importable from here.
"""

from __future__ import annotations

from accord.formats.stanag4774_model import (
    ACCORD_NS,
    ADDITIONAL_SENSITIVITY,
    ADMINISTRATIVE,
    CONTEXT,
    DISSEMINATION,
    ITEM_ID_ATTR,
    MAX_LABEL_BYTES,
    NATO_TAGS,
    NS,
    ONLY,
    RELEASABLE_TO,
    TOPIC,
    Kind,
    LabelDocument,
)
from accord.formats.stanag4774_read import (
    label_from_xml,
    load_label,
    originator_of,
    parse_label_element,
    parse_xml,
    read_label_documents,
    sniff_xml,
)
from accord.formats.stanag4774_write import (
    alternative_label,
    alternative_label_xml,
    label_element,
    label_id,
    label_to_xml,
)

__all__ = [
    "ACCORD_NS",
    "ADDITIONAL_SENSITIVITY",
    "ADMINISTRATIVE",
    "CONTEXT",
    "DISSEMINATION",
    "ITEM_ID_ATTR",
    "MAX_LABEL_BYTES",
    "NATO_TAGS",
    "NS",
    "ONLY",
    "RELEASABLE_TO",
    "TOPIC",
    "Kind",
    "LabelDocument",
    "alternative_label",
    "alternative_label_xml",
    "label_element",
    "label_from_xml",
    "label_id",
    "label_to_xml",
    "load_label",
    "originator_of",
    "parse_label_element",
    "parse_xml",
    "read_label_documents",
    "sniff_xml",
]
