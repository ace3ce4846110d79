"""The node as the people path sees it: its register of cleared individuals and a person's read (issue 12).

:class:`NodeReader` adapts :class:`~accord.node.service.NodeService` to
:class:`accord.people.reading.ReadSource`; :func:`person_read` is what the node's
``GET /v1/items/{id}/payload`` calls (JK-R7, JK-R15: decided by ``access``, journaled, allowed or refused).
The console's backend (:class:`accord.console.backend.NodeBackend`) extends :class:`NodeReader`, so a read
from the console and a read through the API take the same path. The node never imports the console.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from accord.people.reading import read_item
from accord.people.register import Register

if TYPE_CHECKING:
    from accord.core.labels import Label
    from accord.node.service import NodeService


class NodeReader:
    """:class:`accord.people.reading.ReadSource` over a node service: its register, journal and items."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.party = service.party
        self.agreements = service.agreements
        self.register = Register(service.store.engine, self._plain_tx, self.journal, service.party)

    @contextmanager
    def _plain_tx(self) -> Iterator[Connection]:
        with self.service.store.tx() as conn:
            yield conn
        self.service.flush_audit()

    journal_tx = _plain_tx

    def today(self) -> dt.date:
        return dt.datetime.now(dt.UTC).date()

    def journal(self, conn: Connection, type_: str, item_id: str | None, body: dict[str, Any]) -> None:
        self.service.journal_event(conn, type_, item_id, body)

    def item_label(self, item_id: str) -> tuple[Label, str]:
        return self.service.item_label(item_id)

    def open_payload(self, item_id: str) -> bytes:
        return self.service.open_item(item_id)[1]


_readers: weakref.WeakKeyDictionary[Any, NodeReader] = weakref.WeakKeyDictionary()


def reader_for(service: NodeService) -> NodeReader:
    """The (one) people-path adapter of a node service."""
    r = _readers.get(service)
    if r is None:
        r = _readers[service] = NodeReader(service)
    return r


def person_read(service: NodeService, item_id: str, person: str, purpose: str) -> tuple[Label, bytes]:
    """A person's read of an item's content through the node's API (recorded; refused -> 403 problem).

    Raises:
        ReadRefused: the person may not read it (the refusal is recorded).
        NotFound: no such item.
    """
    reader = reader_for(service)
    _decision, data = read_item(reader, person, item_id, purpose)
    label, _digest = reader.item_label(item_id)
    return label, data
