"""Strict YAML loading: the one reader of every YAML (or JSON-as-YAML) document Accord is given.

Ambiguity is refused, never resolved, and every size is bounded:

- a duplicated key is an error rather than a silent overwrite;
- a key is a plain string (a complex key such as ``? [a, b]`` or ``{x: 1}: 2``, a number or ``yes``
  used as a key is refused);
- no aliases or anchors (``&a``/``*a``): one value, written once; no "billion laughs";
- no implicit date-times: ``2019-01-01`` stays text, for :mod:`accord.formats._dates` to read strictly
  (so ``2019-02-30`` and a date-time where a date is expected are clear errors), and the explicit tags
  ``!!timestamp``, ``!!binary``, ``!!set``, ``!!omap`` and ``!!pairs`` are refused;
- the document is at most ``max_bytes`` long and nested at most :data:`MAX_DEPTH` deep.
"""

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


#: Deepest nesting of sequences and mappings accepted.
MAX_DEPTH = 64
#: Largest document (bytes) accepted unless the caller sets another bound.
MAX_BYTES = 1024 * 1024

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Refused(yaml.YAMLError):
    pass


class _Loader(_StrictLoader):
    """Safe loading with Accord's constructors (on :class:`_StrictLoader`), libyaml's parser and composer when
    available. Aliases, anchors and depth are checked on the event stream first (:func:`_check_events`), so
    they hold for either parser; ``compose_node`` repeats them for the pure-Python composer."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused(
                f"aliases (*{event.anchor}) are not accepted: write the value out (line {event.start_mark.line + 1})"
            )
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"anchors (&{event.anchor}) are not accepted (line {event.start_mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} deep (line {event.start_mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line(event: Any) -> int:
    mark = getattr(event, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 0


def _check_events(text: str | bytes) -> None:
    """Refuse aliases, anchors and nesting deeper than :data:`MAX_DEPTH` before anything is composed."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{anchor}) are not accepted: write the value out (line {_line(event)})")
        if anchor is not None:
            raise _Refused(f"anchors (&{anchor}) are not accepted (line {_line(event)})")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} deep (line {_line(event)})")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


# Dates stay text (read strictly by accord.formats._dates), so remove the implicit timestamp resolver.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise _Refused(f"a complex key is not accepted (line {line})")
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise _Refused(f"key {key_node.value!r} is not text (line {line}); quote it")
        if key in seen:
            raise _Refused(f"duplicate key {key!r} (line {line}): ambiguous, refused rather than picking one")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _refuse_tag(_loader: _StrictLoader, node: yaml.Node) -> Any:
    raise _Refused(f"the tag {node.tag} is not accepted (line {node.start_mark.line + 1})")


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
for _tag in ("timestamp", "binary", "set", "omap", "pairs", "merge", "value"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def load_yaml(text: str | bytes, *, source: str, max_bytes: int = MAX_BYTES) -> Any:
    """Parse YAML (or JSON, which is YAML) strictly; raise :class:`InputError` naming the source."""
    if len(text) > max_bytes:
        raise InputError(f"document is {len(text)} bytes; at most {max_bytes} are accepted", source=source)
    try:
        _check_events(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise InputError(f"not accepted: {exc}", source=source) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {_one_line(exc)}", source=source) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # Constructors of plain scalars (an integer beyond Python's digit limit, …).
        raise InputError(f"not valid YAML: {exc}", source=source) from None


def _one_line(exc: yaml.YAMLError) -> str:
    """A YAML error on one line (PyYAML's messages span several, with a caret drawing)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        context = getattr(exc, "context", None)
        return f"{context + ': ' if context else ''}{problem}{where}"
    return " ".join(str(exc).split())
