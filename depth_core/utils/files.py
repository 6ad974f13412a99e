"""Writing output folders and files so that an interrupted or failed run never leaves one that looks
valid."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OutputError", "atomic_output_dir", "atomic_write_bytes", "check_output_parent"]


class OutputError(Exception):
    """The output folder cannot be written (exists, or its parent is not writable)."""


@contextmanager
def atomic_output_dir(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a not-yet-existing path beside ``out`` to write into; on success it is renamed to
    ``out`` (replacing it when ``overwrite``), on any error or interrupt it is deleted.

    Raises :class:`OutputError` up front when ``out`` exists (without ``overwrite``) or its parent
    folder cannot be created or written.
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists (pass --overwrite to replace it)")
    check_output_parent(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"cannot write into {out.parent}: {exc.strerror or exc}") from None
    try:
        target = staging / out.name
        yield target
        if out.exists():
            shutil.rmtree(out)
        target.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_output_parent(out: Path) -> None:
    """Raise :class:`OutputError` when folder ``out`` is a file or cannot be created below its
    nearest existing ancestor."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot create {out}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"cannot write into {ancestor}: permission denied")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename: readers (other
    processes too) see the old file or the whole new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
