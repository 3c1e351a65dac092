"""Claims on runs, so that sweeps sharing one ``--out`` split the grid instead of training
runs twice.

Before training a run, a process creates ``<run>.claim`` beside the run file with
``O_CREAT | O_EXCL`` (atomic: of two processes, exactly one succeeds), holding its pid and
host; it removes the claim once the run file is written or the run failed. A run claimed by
another process is left to it: the sweep does its other runs first, then waits for the run
file. A claim whose process is gone (same host, the pid no longer exists) is stale and is
taken over, by one process only when several find it at once (sweeps restarted together
after a crash); so is a claim holding this process's pid that another process wrote (a
restarted container gives its sweep the pid of the one that died). A claim from another
host cannot be checked: remove it by hand if that machine's sweep died.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Optional

__all__ = ["CLAIM_SUFFIX", "PROCESS_ID", "claim", "release", "release_own", "holder", "describe"]

CLAIM_SUFFIX = ".claim"
PROCESS_ID = secrets.token_hex(8)
"""This process in its claims (with its pid): a claim holding this pid under another process
id was left by an earlier process that had the same pid, as a container restarted after a
crash gives its sweep the same pid again."""
UNREADABLE_GRACE = 60.0
"""Seconds a claim file may stay unreadable (its writer between create and write) before
it counts as stale."""


def _contents(path: Path) -> Optional[str]:
    """The text of the claim ``path``; None if it is gone or cannot be read."""
    try:
        return Path(path).read_text()
    except (OSError, ValueError):
        return None


def _parse(text: Optional[str]) -> Optional[dict]:
    try:
        held = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return held if isinstance(held, dict) else None


def holder(path: Path) -> Optional[dict]:
    """Who holds the claim ``path`` (``{"pid", "host", "since"}``), None if unreadable."""
    return _parse(_contents(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale(path: Path, text: Optional[str]) -> bool:
    """Whether the claim ``path``, read as ``text``, was left by a process that is gone."""
    held = _parse(text)
    if held is None:
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > UNREADABLE_GRACE
        return False  # gone meanwhile: try again
    if held.get("host") != socket.gethostname():
        return False
    pid = held.get("pid")
    if pid == os.getpid():  # this process's (another thread's), or an earlier one's
        return held.get("process") != PROCESS_ID
    return not (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and _alive(pid))


def claim(path: Path, token: Optional[str] = None) -> bool:
    """Claim ``path`` for this process; False if a live process holds it already. A stale
    claim (its process is gone) is taken over. ``token`` is stored with the claim so that
    :func:`release_own` can tell this claim from any other, whether or not this call got to
    return."""
    path = Path(path)
    for _ in range(3):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            seen = _contents(path)
            if seen is not None and not (_stale(path, seen) and _take_over(path, seen)):
                return False
            continue  # the stale claim is gone (or was released meanwhile): try again
        try:
            with os.fdopen(handle, "w") as stream:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                           "process": PROCESS_ID, "since": time.time(), "token": token},
                          stream)
        except BaseException as error:
            release(path)
            if isinstance(error, OSError):
                raise OSError(error.errno, f"cannot write the claim {path}: "
                                           f"{error.strerror or error}") from None
            raise
        return True
    return False


def _take_over(path: Path, seen: str) -> bool:
    """Remove the stale claim ``path`` if it still is the one read as ``seen``. Another
    process may have taken it over since (and made its own claim there): the file is moved
    aside atomically and compared, and a claim that is not the stale one is put back, so
    that of two processes judging one stale claim at once only one trains the run. False
    when ``path`` held another claim."""
    moved = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.stale")
    try:
        os.replace(path, moved)
    except FileNotFoundError:  # released or taken over meanwhile: look again
        return True
    try:
        text = _contents(moved)
        if text == seen:
            return True
        with contextlib.suppress(FileExistsError):  # put the live claim back
            with os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644),
                           "w") as stream:
                stream.write(text or "")
        return False
    finally:
        release(moved)


def describe(path: Path) -> str:
    """``pid 123 on host node7`` (or ``an unknown process``) for the holder of ``path``."""
    held = holder(path) or {}
    if "pid" in held and "host" in held:
        return f"pid {held['pid']} on host {held['host']}"
    return "an unknown process"


def release(path: Path) -> None:
    """Remove the claim ``path`` (nothing if it is gone)."""
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


def release_own(path: Path, token: str) -> None:
    """Remove the claim ``path`` if it is the one ``claim(path, token)`` made; another
    holder's claim (another process's, or another thread's in this one) is left alone. Safe
    to call whether or not :func:`claim` returned: an interrupt that lands right after the
    claim was written leaves no claim behind."""
    if (holder(path) or {}).get("token") == token:
        release(path)
