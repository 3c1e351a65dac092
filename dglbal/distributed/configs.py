"""What a distributed run reads before it starts: DGL's partition config, its ip config and
the launcher's environment variables. All are checked whole, up front, so that a hand-edited
or foreign file is an error naming the file and the entry, not a traceback from DGL's C++ side
half-way into a launch.
"""
from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path
from typing import Any, List, Tuple, Union

__all__ = ["PartConfigError", "read_part_config", "read_ip_config", "check_port_free",
           "check_partition_request", "env_int"]

PathLike = Union[str, Path]
PART_FILES = ("node_feats", "edge_feats", "part_graph")
DEFAULT_PORT = 30050  # DGL's port for an ip config line without one


class PartConfigError(ValueError):
    """A partition or ip config that DGL could not use: names the file and the entry."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_part_config(part_config: PathLike) -> dict:
    """The partition metadata of ``part_config``, after checking it describes partitions that
    exist: ``graph_name``, a positive integer ``num_parts``, one ``part-<i>`` entry per
    partition whose files are on disk, node and edge maps that cover the graph in
    ``num_parts`` contiguous ranges, and dglbal's ``in_feats`` / ``num_classes`` if present.

    Parameters
    ----------
    part_config : str or pathlib.Path
        The JSON file :func:`dglbal.distributed.partition` (or DGL's ``partition_graph``)
        wrote.

    Returns
    -------
    dict
        The config as read.

    Raises
    ------
    FileNotFoundError
        No file at ``part_config``.
    PartConfigError
        The file is not a usable DGL partition config; the message names the entry.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> meta = read_part_config(config)
    >>> meta["graph_name"], meta["num_parts"]
    ('tiny', 1)
    >>> out.cleanup()
    """
    path = Path(part_config)
    if not path.is_file():
        raise FileNotFoundError(f"partition config {path} not found (write one with "
                                "`python -m dglbal.distributed partition`)")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PartConfigError(f"{path} is not a partition config: {error}") from None
    if not isinstance(meta, dict):
        raise PartConfigError(f"{path} is not a partition config: it holds a JSON "
                              f"{type(meta).__name__}, not an object")
    missing = [key for key in ("graph_name", "num_parts") if key not in meta]
    if missing:
        raise PartConfigError(f"{path} is not a DGL partition config: no {', '.join(missing)}")
    num_parts = meta["num_parts"]
    if not _is_int(num_parts) or num_parts < 1:
        raise PartConfigError(f"{path}: num_parts must be a positive integer, got {num_parts!r}")
    if not isinstance(meta["graph_name"], str) or not meta["graph_name"]:
        raise PartConfigError(f"{path}: graph_name must be a non-empty string, "
                              f"got {meta['graph_name']!r}")
    for part in range(num_parts):
        _check_part_entry(path, meta, part)
    for key, total in (("node_map", "num_nodes"), ("edge_map", "num_edges")):
        if key in meta:
            _check_ranges(path, key, meta[key], num_parts, meta.get(total))
    _check_dglbal_entry(path, meta.get("dglbal", {}))
    return meta


def _check_part_entry(path: Path, meta: dict, part: int) -> None:
    entry = meta.get(f"part-{part}")
    if not isinstance(entry, dict):
        raise PartConfigError(f"{path}: num_parts is {meta['num_parts']} but there is no "
                              f"entry part-{part} (was num_parts edited?)")
    for key in PART_FILES:
        if key not in entry:
            raise PartConfigError(f"{path}: part-{part} has no {key!r}")
        file = path.parent / str(entry[key])
        if not file.is_file():
            raise PartConfigError(f"{path}: part-{part}'s {key} {file} does not exist")


def _check_ranges(path: Path, key: str, maps: Any, num_parts: int, total: Any) -> None:
    """Each type's ranges, ``num_parts`` pairs [start, end), together tiling [0, total) (DGL's
    format since 0.8; older configs name a file instead, which must exist)."""
    if isinstance(maps, str):
        if not (path.parent / maps).is_file():
            raise PartConfigError(f"{path}: {key} file {path.parent / maps} does not exist")
        return
    if not isinstance(maps, dict):
        raise PartConfigError(f"{path}: {key} must map each type to its ranges, got "
                              f"{type(maps).__name__}")
    pieces = []
    for name, ranges in maps.items():
        ok = (isinstance(ranges, list) and len(ranges) == num_parts
              and all(isinstance(r, list) and len(r) == 2 and all(map(_is_int, r))
                      and 0 <= r[0] <= r[1] for r in ranges))
        if not ok:
            raise PartConfigError(f"{path}: {key}[{name!r}] must be {num_parts} pairs "
                                  f"[start, end), one per partition, got {ranges!r}"[:300])
        pieces.extend((start, end, name) for start, end in ranges)
    reached = 0
    for start, end, name in sorted(pieces):
        if start != reached:
            raise PartConfigError(f"{path}: {key} does not cover the ids in order: "
                                  f"{name!r} has [{start}, {end}) where {reached} comes next")
        reached = end
    if _is_int(total) and reached != total:
        raise PartConfigError(f"{path}: {key} covers {reached} ids but the config says "
                              f"{total}")


def _check_dglbal_entry(path: Path, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise PartConfigError(f"{path}: the 'dglbal' entry must be an object, got {entry!r}")
    for key in ("in_feats", "num_classes"):
        if key in entry and (not _is_int(entry[key]) or entry[key] < 1):
            raise PartConfigError(f"{path}: dglbal.{key} must be a positive integer, "
                                  f"got {entry[key]!r}")
    for key, ok in (("dataset", lambda v: isinstance(v, str) and v),
                    ("split", lambda v: _is_int(v) and v >= 0),
                    ("partition_id", lambda v: isinstance(v, str) and v)):
        if entry.get(key) is not None and not ok(entry[key]):
            wanted = "non-negative integer" if key == "split" else "non-empty string"
            raise PartConfigError(f"{path}: dglbal.{key} must be a {wanted}"
                                  f" or null, got {entry[key]!r}")


def read_ip_config(ip_config: PathLike) -> List[Tuple[str, int]]:
    """The machines of DGL's ip config: one ``<ip> [port]`` line each (blank lines skipped)."""
    path = Path(ip_config)
    if not path.is_file():
        raise FileNotFoundError(f"ip config {path} not found")
    machines = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        port_text = fields[1] if len(fields) > 1 else str(DEFAULT_PORT)
        if len(fields) > 2 or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise PartConfigError(f"{path} line {number}: expected '<ip> [port]' with a port "
                                  f"in 1..65535, got {line.strip()!r}")
        machines.append((fields[0], int(port_text)))
    if not machines:
        raise PartConfigError(f"{path} lists no machine (one '<ip> [port]' line per machine)")
    return machines


def check_port_free(ip_config: PathLike, machine: int) -> None:
    """Refuse to start the server of ``machine`` when its address in ``ip_config`` is taken
    (DGL would fail in C++ with "Cannot bind"). An address of another host is not checked."""
    machines = read_ip_config(ip_config)
    if not 0 <= machine < len(machines):
        raise PartConfigError(f"{ip_config} lists {len(machines)} machines; this server is "
                              f"machine {machine}")
    host, port = machines[machine]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PartConfigError(
                    f"port {port} of {host} (machine {machine} in {ip_config}) is in use by "
                    "another process: stop it or give this machine another port") from None
            if error.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                raise
        except socket.gaierror:
            pass  # a host name this machine cannot resolve: DGL reports it


def check_partition_request(num_nodes: int, num_parts: Any) -> None:
    """``num_parts`` partitions of a graph of ``num_nodes`` nodes are possible at all."""
    if not _is_int(num_parts) or num_parts < 1:
        raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
    if num_nodes == 0:
        raise ValueError("the graph has no nodes; there is nothing to partition")
    if num_parts > num_nodes:
        raise ValueError(f"num_parts={num_parts} is more than the graph's {num_nodes} nodes; "
                         "every partition needs nodes")



def env_int(name: str, default: int) -> int:
    """The non-negative integer in environment variable ``name`` (set by DGL's launcher or
    torchrun), ``default`` when unset."""
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise ValueError(f"environment variable {name}={text!r} must be a non-negative integer "
                         "(it is set by DGL's launcher or torchrun)")
    return int(text)
