"""The node's HTTP API pieces kept apart from the routes: problem documents (RFC 9457)."""
