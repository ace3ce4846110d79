"""One consent codec (issue 8): the signed wire form is the document form, and unknown keys are refused."""

from __future__ import annotations

import pytest

from accord.errors import InputError
from accord.node.policy import consent_from_dict, consent_to_dict

DOC = {
    "id": "KOR-2017-001",
    "originator": "KOR",
    "holder": "JPN",
    "recipient": "USA",
    "granted": "2017-01-01",
    "until": "2017-12-31",
    "item": "item-1",
    "topics": [],
    "standing": False,
}


def test_wire_consent_round_trips():
    assert consent_to_dict(consent_from_dict(DOC)) == DOC


def test_wire_consent_with_an_unknown_key_is_refused():
    """A partner cannot smuggle a field the signature covers but the decision ignores."""
    with pytest.raises(InputError, match="unknown field"):
        consent_from_dict({**DOC, "scope": "everything"})


def test_wire_consent_missing_a_field_is_refused():
    with pytest.raises(InputError, match="missing"):
        consent_from_dict({k: v for k, v in DOC.items() if k != "until"})
