"""Accord gateway node (issue 4): one per nation, exchanging sealed items over mutual TLS, exactly once.

Modules: :mod:`config` (node configuration and peer roster), :mod:`identity` (TLS identity, receipt key,
pinned TLS contexts), :mod:`store` (SQLAlchemy Core storage: items, outbox, inbox, receipts, consents),
:mod:`policy` and :mod:`sealing` (adapters to the core decision engine and the sealed-item format),
:mod:`service` (the node's logic), :mod:`delivery` (outbox worker), :mod:`app` (FastAPI),
:mod:`client` (pinned mutual-TLS HTTP client), :mod:`demo`.
"""
