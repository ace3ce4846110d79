"""The people register of a node (JK-R10) in the node's database, its accounts and console sessions.

The pure model and the read decision are in :mod:`accord.core.people`; this package stores them
(SQLAlchemy Core: SQLite or PostgreSQL through the same code) and journals every change as an audit event.
"""

from accord.people.register import Register, SessionInfo, people_metadata

__all__ = ["Register", "SessionInfo", "people_metadata"]
