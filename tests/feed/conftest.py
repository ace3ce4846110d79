"""Feed fixtures: three initialised, mutually pinned node directories (KOR, USA hub, JPN)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from accord.node.cluster import init_node, pin_each_other


@pytest.fixture(scope="session")
def node_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feed-nodes")
    cfgs = [init_node(root / p.lower(), p) for p in ("KOR", "USA", "JPN")]
    pin_each_other(cfgs)
    return root


@pytest.fixture
def nodes(node_template: Path, tmp_path: Path) -> dict[str, Path]:
    """Fresh copies of the three node directories (no feed state yet)."""
    out = {}
    for p in ("KOR", "USA", "JPN"):
        dst = tmp_path / p.lower()
        shutil.copytree(node_template / p.lower(), dst)
        out[p] = dst
    return out
