"""Node configuration and roster documents are read strictly (bad input changes nothing)."""

from pathlib import Path

import pytest

from accord.errors import InputError
from accord.node.config import NODE_FILE, NodeConfig, Roster


def test_roster_with_a_duplicated_key_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate key"):
        Roster.parse("peers: []\npeers: []\n", source="roster.yaml")


def test_roster_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(InputError, match=r"roster\.yaml"):
        Roster.parse("peers: [unclosed\n", source="roster.yaml")


def test_node_config_with_a_duplicated_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / NODE_FILE).write_text("party: KOR\nparty: JPN\n")
    with pytest.raises(InputError, match="duplicate key"):
        NodeConfig.load(tmp_path)
