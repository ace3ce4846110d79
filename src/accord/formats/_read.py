"""Reading a document file with a bound on its size (checked before it is read into memory)."""

from __future__ import annotations

from pathlib import Path

from accord.errors import InputError


def read_bounded(path: str | Path, *, max_bytes: int, error: type[InputError] = InputError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; ``error`` naming the file otherwise."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except IsADirectoryError:
        raise error("is a directory, not a file", source=str(p)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", source=str(p)) from None
    if len(data) > max_bytes:
        raise error(f"larger than {max_bytes} bytes; refused", source=str(p))
    return data
