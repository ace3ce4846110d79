"""Strict YAML loading: safe, and a duplicated key is an error rather than a silent overwrite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from accord.errors import InputError

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:  # libyaml's parser when present: a world of hundreds of documents loads ~10x faster
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):
    pass


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str | bytes, *, source: str) -> Any:
    """Parse YAML (or JSON, which is YAML) strictly; raise :class:`InputError` naming the source."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=source) from None

