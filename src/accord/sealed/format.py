"""Wire format of a sealed item: constants and strict manifest field readers.

Canonical JSON is :func:`accord.formats.canonical.canonical_json`, shared with the audit log.

Pure functions, no I/O. The layout is specified in ``docs/sealed-format.md``.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import re
from collections.abc import Mapping
from typing import Any

from accord.errors import InputError

FORMAT = "accord-sealed"
VERSION = 1
MANIFEST_NAME = "0.manifest.json"
PAYLOAD_NAME = "0.payload"
DEFAULT_SEGMENT_SIZE = 2 * 1024 * 1024
MIN_SEGMENT_SIZE = 1024
MAX_SEGMENT_SIZE = 8 * 1024 * 1024  # bounds a reader's memory (a few segments)
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_SEGMENTS = 1 << 32
TAG_SIZE = 16

# Domain-separation strings: every hash, signature, HPKE info and AAD starts with its own.
DS_STATEMENT = b"accord-sealed/v1 statement\x00"
DS_REWRAP = b"accord-sealed/v1 rewrap\x00"
DS_ALT_LABEL = b"accord-sealed/v1 alternative-label\x00"
DS_ROSTER = b"accord-sealed/v1 roster-entry\x00"
DS_WRAP_INFO = b"accord-sealed/v1 wrap\x00"
DS_SEGMENT_AAD = b"ASv1"
DS_ROOT = b"accord-sealed/v1 root\x00"
DS_KEY_COMMIT = b"accord-sealed/v1 key-commitment"
SIG_CONTEXT = b"accord-sealed/v1"

PARTY_RE = re.compile(r"^[A-Z]{3}$")
KEYID_RE = re.compile(r"^[0-9a-f]{32}$")
HEX384_RE = re.compile(r"^[0-9a-f]{96}$")


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(value: object, field: str, *, source: str = "manifest") -> bytes:
    if not isinstance(value, str):
        raise InputError("expected a base64 string", source=source, field=field)
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise InputError("invalid base64", source=source, field=field) from e


def parse_json(data: bytes, *, source: str) -> dict[str, Any]:
    """Parse a JSON object strictly (UTF-8, no duplicate keys, no NaN)."""

    def no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InputError(f"duplicate key {k!r}", source=source)
            out[k] = v
        return out

    def no_const(name: str) -> Any:
        raise InputError(f"invalid JSON constant {name}", source=source)

    try:
        text = data.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=no_dupes, parse_constant=no_const)
    except InputError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InputError("not valid UTF-8 JSON", source=source) from e
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", source=source)
    return obj


class Reader:
    """Typed, strict access to a JSON object's fields with precise error locations."""

    def __init__(self, obj: object, path: builtins.str, *, source: builtins.str = "manifest") -> None:
        if not isinstance(obj, Mapping):
            raise InputError("expected an object", source=source, field=path)
        self.obj: Mapping[str, Any] = obj
        self.path = path
        self.source = source

    def _f(self, key: builtins.str) -> builtins.str:
        return f"{self.path}.{key}" if self.path else key

    def only(self, *keys: builtins.str) -> None:
        extra = sorted(set(self.obj) - set(keys))
        if extra:
            raise InputError(f"unknown field(s) {', '.join(extra)}", source=self.source, field=self.path or None)

    def get(self, key: builtins.str) -> Any:
        if key not in self.obj:
            raise InputError("missing field", source=self.source, field=self._f(key))
        return self.obj[key]

    def str(self, key: builtins.str, pattern: re.Pattern[builtins.str] | None = None) -> builtins.str:
        v = self.get(key)
        if not isinstance(v, str):
            raise InputError("expected a string", source=self.source, field=self._f(key))
        if pattern is not None and not pattern.fullmatch(v):
            raise InputError(f"invalid value {v[:40]!r}", source=self.source, field=self._f(key))
        return v

    def int(self, key: builtins.str, lo: builtins.int = 0, hi: builtins.int = 1 << 62) -> builtins.int:
        v = self.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise InputError(f"expected an integer in [{lo}, {hi}]", source=self.source, field=self._f(key))
        return v

    def bytes(self, key: builtins.str) -> builtins.bytes:
        return b64d(self.get(key), self._f(key), source=self.source)

    def list(
        self, key: builtins.str, *, min_len: builtins.int = 0, max_len: builtins.int = 10_000
    ) -> builtins.list[Any]:
        v = self.get(key)
        if not isinstance(v, list) or not min_len <= len(v) <= max_len:
            raise InputError(f"expected a list of {min_len}..{max_len} items", source=self.source, field=self._f(key))
        return v

    def sub(self, key: builtins.str) -> Reader:
        return Reader(self.get(key), self._f(key), source=self.source)

    def item(self, key: builtins.str, i: builtins.int) -> Reader:
        return Reader(self.list(key)[i], f"{self._f(key)}[{i}]", source=self.source)
