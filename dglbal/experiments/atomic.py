"""Atomic file writes: a reader, a crash, a Ctrl-C or a full disk never leaves half a file.

Each write goes to a temporary file in the target's directory (so the final rename stays on
one file system) and is renamed over the target with :func:`os.replace` once complete; on any
failure the temporary file is removed and the target is left as it was. A failed write is an
``OSError`` whose message names the target (``cannot write <path>: No space left on
device``), with the original ``errno``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Iterator, Optional

__all__ = ["replaced_atomically", "write_text_atomic", "write_json_atomic"]


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the block has written it, it replaces
    ``path``. If the block (or the rename) fails, the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise OSError(error.errno, f"cannot write {path}: {reason}") from None
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: Path, payload: dict, indent: Optional[int] = None) -> dict:
    """Write ``payload`` as JSON to ``path`` atomically; returns ``payload``."""
    write_text_atomic(path, json.dumps(payload, indent=indent))
    return payload
