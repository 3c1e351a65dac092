"""DistDGL's side: partition a dataset, start DGL's distributed services, open a DistGraph.

A partitioned graph is DGL's own format (``dgl.distributed.partition_graph``): a JSON file
(``part_config``) and one folder per partition. dglbal adds the dataset's input width and class
count under the key ``"dglbal"`` of that JSON; graphs partitioned by other tools work too, the
class count is then read from the labels.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Union

import dgl
import torch
from dgl import DGLError

from dglbal.data.validation import check_node_data

from .configs import (PartConfigError, check_partition_request, check_port_free, env_int,
                      read_ip_config, read_part_config)

__all__ = ["NODE_DATA", "MACHINE_ENV", "PART_METHODS", "partition", "read_part_config",
           "is_standalone", "initialize", "open_graph", "graph_shape", "split_nodes"]

NODE_DATA = ("feat", "label", "train_mask", "val_mask", "test_mask")
# The machine (line of the ip config) of a trainer, when several machines share one host:
# DGL finds a trainer's machine by matching the host's addresses against the ip config, which
# picks the first machine when they all are 127.0.0.1 (see dglbal.distributed.local).
MACHINE_ENV = "DGLBAL_DIST_MACHINE"
PART_METHODS = ("metis", "random")
PathLike = Union[str, Path]


def partition(graph: dgl.DGLGraph, name: str, out_dir: PathLike, num_parts: int,
              part_method: str = "metis", dataset: Optional[str] = None,
              split: Optional[int] = None) -> Path:
    """Partition ``graph`` with ``dgl.distributed.partition_graph``; returns the part_config.

    The graph needs the node data of a dglbal dataset (``feat``, ``label`` and the three
    masks), checked as for training (:func:`dglbal.data.check_node_data`: nodes labelled -1
    leave the masks). Partitions balance training nodes and edges.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph with dglbal's node data.
    name : str
        The graph's name: the config is ``<out_dir>/<name>.json``.
    out_dir : str or pathlib.Path
        Where the partitions are written (created if missing).
    num_parts : int
        The number of partitions: one per machine.
    part_method : str
        ``"metis"`` or ``"random"``.
    dataset, split : str or None, int or None
        The dglbal dataset (and heterophilous split) ``graph`` was loaded as, recorded so that
        training on the partitions takes that dataset's learning rate and stop rule and names
        its runs after it; without it, ``dglbal train --dist-config`` needs ``--lr`` and
        ``--loss-threshold``.

    Returns
    -------
    pathlib.Path
        The partition config, with dglbal's ``in_feats``, ``num_classes``, ``dataset``,
        ``split`` and ``partition_id`` (a hash of the config and of which node went where,
        part of the run key of every run trained on these partitions) added.

    Raises
    ------
    ValueError
        Missing or unusable node data, more partitions than nodes, an unknown
        ``part_method``, or a partition that DGL could not make (use fewer).
    NotADirectoryError
        ``out_dir`` is a file.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import load_dataset
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(load_dataset("synthetic"), "synthetic", out.name, num_parts=2)
    >>> config.name, read_part_config(config)["num_parts"]
    ('synthetic.json', 2)
    >>> out.cleanup()
    """
    missing = [key for key in NODE_DATA if key not in graph.ndata]
    if missing:
        raise ValueError(f"graph lacks node data {', '.join(missing)}; a dglbal dataset "
                         f"has {', '.join(NODE_DATA)}")
    check_partition_request(graph.num_nodes(), num_parts)
    graph = check_node_data(graph, f"graph {name!r}")
    if part_method not in PART_METHODS:
        raise ValueError(f"part_method must be one of {', '.join(PART_METHODS)}, "
                         f"got {part_method!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"partition output {out_dir} exists and is not a directory")
    try:
        orig_nids, _ = dgl.distributed.partition_graph(
            graph, name, num_parts, str(out_dir), part_method=part_method,
            balance_ntypes=graph.ndata["train_mask"].long(), balance_edges=True,
            return_mapping=True)
    except DGLError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValueError(
            f"DGL could not split the graph ({graph.num_nodes()} nodes) into {num_parts} "
            f"partitions with {part_method!r}; a partition probably came out empty: use "
            f"fewer partitions (DGL: {first_line})") from None
    config = out_dir / f"{name}.json"
    meta = json.loads(config.read_text())
    meta["dglbal"] = {"in_feats": int(graph.ndata["feat"].shape[1]),
                      "num_classes": int(graph.ndata["label"].max()) + 1,
                      "dataset": dataset, "split": split}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    digest.update(orig_nids.cpu().numpy().astype("int64").tobytes())
    meta["dglbal"]["partition_id"] = digest.hexdigest()[:16]
    config.write_text(json.dumps(meta, indent=2))
    return config


def is_standalone() -> bool:
    """DGL's standalone mode: one process, one partition, no servers."""
    return os.environ.get("DGL_DIST_MODE", "standalone") == "standalone"


def initialize(ip_config: Optional[PathLike] = None) -> None:
    """``dgl.distributed.initialize``: in the server role (``DGL_ROLE=server``, set by DGL's
    launcher) this process serves its partition until the trainers finish, then exits.

    Parameters
    ----------
    ip_config : str or pathlib.Path, optional
        The ip config (one ``<ip> [port]`` line per machine); needed in distributed mode.

    Returns
    -------
    None
        In the server role it does not return: the process exits when the trainers finish.

    Raises
    ------
    ValueError
        If the ip config is malformed, a server's port is taken, or distributed mode lacks
        ``ip_config``.

    Examples
    --------
    In DGL's standalone mode (no servers, one partition; the default), it starts the local
    services:

    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     initialize()
    >>> open_graph(config).num_nodes()
    200
    >>> out.cleanup()
    """
    if ip_config is not None:
        read_ip_config(ip_config)
    if os.environ.get("DGL_ROLE", "client") == "server" and ip_config is not None:
        servers_per_machine = max(env_int("DGL_NUM_SERVER", 1), 1)
        check_port_free(ip_config, env_int("DGL_SERVER_ID", 0) // servers_per_machine)
    elif os.environ.get("DGL_ROLE", "client") != "server":
        if not is_standalone() and ip_config is None:
            raise ValueError("distributed mode (DGL_DIST_MODE=distributed) needs --ip-config")
        if MACHINE_ENV in os.environ:
            from dgl.distributed import rpc_client

            machine = env_int(MACHINE_ENV, 0)
            rpc_client.get_local_machine_id = lambda server_namebook: machine
    dgl.distributed.initialize(None if ip_config is None else str(ip_config))


def open_graph(part_config: PathLike) -> dgl.distributed.DistGraph:
    """The partitioned graph as a ``DistGraph`` (after :func:`initialize`).

    Parameters
    ----------
    part_config : str or pathlib.Path
        The partition config.

    Returns
    -------
    dgl.distributed.DistGraph
        The graph, with dglbal's node data.

    Raises
    ------
    ValueError
        If standalone mode is asked to read several partitions, or node data is missing.
    PartConfigError
        If ``part_config`` is not a usable partition config.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     initialize()
    >>> graph = open_graph(config)
    >>> graph.num_nodes(), sorted(graph.ndata)[:2]
    (200, ['feat', 'label'])
    >>> out.cleanup()
    """
    meta = read_part_config(part_config)
    if is_standalone() and meta["num_parts"] != 1:
        raise ValueError(f"standalone mode reads one partition but {part_config} has "
                         f"{meta['num_parts']}: start servers and trainers with DGL's launcher")
    graph = dgl.distributed.DistGraph(meta["graph_name"], part_config=str(part_config))
    missing = [key for key in NODE_DATA if key not in graph.ndata]
    if missing:
        raise ValueError(f"partitioned graph {meta['graph_name']} lacks node data "
                         f"{', '.join(missing)}")
    return graph


def graph_shape(graph: dgl.distributed.DistGraph, part_config: PathLike) -> tuple:
    """(input width, class count) of a partitioned dataset, checked against the labels and
    features the servers hold (a hand-edited ``dglbal`` entry is an error, not a crash)."""
    meta = read_part_config(part_config).get("dglbal", {})
    in_feats = int(graph.ndata["feat"].shape[1])
    labels = graph.ndata["label"]
    chunk = 1 << 20
    pieces = [labels[start:min(start + chunk, graph.num_nodes())]
              for start in range(0, graph.num_nodes(), chunk)]
    if not pieces:
        raise PartConfigError(f"{part_config}: the partitioned graph has no nodes")
    low, top = min(int(p.min()) for p in pieces), max(int(p.max()) for p in pieces)
    if low < -1:
        raise PartConfigError(f"{part_config}: the partitions hold label {low}; labels must "
                              "be 0..classes-1 (or -1, unlabelled)")
    if meta.get("in_feats", in_feats) != in_feats:
        raise PartConfigError(f"{part_config}: dglbal.in_feats is {meta['in_feats']} but the "
                              f"partitions hold {in_feats} features per node")
    num_classes = meta.get("num_classes", top + 1)
    if num_classes <= top:
        raise PartConfigError(f"{part_config}: dglbal.num_classes is {num_classes} but the "
                              f"partitions hold label {top}")
    return in_feats, num_classes


def split_nodes(graph: dgl.distributed.DistGraph, mask: str) -> torch.Tensor:
    """This trainer's share of the nodes of ``mask`` (disjoint across trainers)."""
    return dgl.distributed.node_split(graph.ndata[mask], graph.get_partition_book(),
                                      force_even=True)
