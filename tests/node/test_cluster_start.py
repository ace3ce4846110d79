"""Starting a node process (accord.node.cluster, used by the benches and the tests): a node that stops at once
says why in the error itself, not only in a log file that may be gone with its temporary directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from accord.node.cluster import NodeProcess, init_node

pytestmark = pytest.mark.integration


def test_a_node_that_exits_at_start_says_why_in_the_error(tmp_path: Path) -> None:
    cfg = init_node(tmp_path / "kor", "KOR")
    with socket.socket() as taken:  # the node's port is held by someone else: it cannot bind, and exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p = NodeProcess(cfg, port=taken.getsockname()[1])
        try:
            with pytest.raises(RuntimeError) as e:
                p.start(wait=30)
        finally:
            p.stop()
    msg = str(e.value)
    assert msg.startswith("node KOR exited: ") and "address already in use" in msg and str(p.log_path) in msg
