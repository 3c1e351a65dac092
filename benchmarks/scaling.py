"""Cost curves (issue 24): how dglbal's costs grow with the model and with the graph.

    python benchmarks/scaling.py [--part a b c] [--threads 1 2] [--max-params 1e8]
                                 [--max-nodes 1e6] [--quick] [--out DIR]

(a) analysis, against parameters (``GCN(1433, w, 7, 4)``, w chosen for 1e5 ... --max-params
    parameters) and against depth (the paper's GATv2, width 64, L = 2 ... 128): the seconds
    of ``dglbal.analyze``, of ``dglbal.analyze_and_balance(mode="preserve")`` from Xavier, of
    building a ``dglbal.Rebalancer`` (analysis and index), of one ``Rebalancer.rebalance_()``
    (10 sweeps, relative gradients) and of one full-batch SGD epoch of the model on Cora.
(b) layers: one full-batch epoch (forward, backward, SGD step) of an L-layer GATv2, GAT and
    GCN (width 64, 128 dense input features, 8 classes, loss on 10% of the nodes) built from
    dglbal's layers, from DGL's (``dgl.nn.pytorch``) and from PyG's (``torch_geometric.nn``),
    all with the same weights, on random graphs where every node has --degree in-edges from
    uniformly drawn sources, with 1e4 ... --max-nodes nodes; per --threads.
(c) sampling: on the largest graph of (b), dglbal's full-batch epoch ((b)'s row when (b)
    runs too) against an epoch of neighbour-sampled mini-batches over the same training nodes
    (``dgl.dataloading.NeighborSampler`` with --fanout per layer, ``dgl.dataloading.DataLoader``
    with --batch-size seeds).

Each configuration runs in a fresh subprocess (this script with --worker), one after the
other, so the columns of a row are measured side by side in one run. A time is the median of
--repeats runs after one warm-up (fewer runs when they exceed --budget seconds together), in
wall seconds (``_s``) and in CPU seconds of the process, all its threads (``_cpu_s``: less
disturbed by other load on a shared machine; equal to wall time on one idle thread).
``peak MiB`` is the subprocess's ru_maxrss minus that of an idle subprocess that imported the
same libraries (tracemalloc does not see torch's allocations): graph, features, model and the
work; ``data MiB`` what is resident after building the graph and features (and, in (a), the
model and Cora); ``analysis MiB`` in (a) the peak during ``analyze`` above that.

Every finished measurement is appended to DIR/rows.jsonl at once, so runs in chunks add up
(the newest row of a configuration counts). Each run then rewrites, from all rows, the tables
(printed), DIR/scaling.json (rows and fitted exponents), DIR/a.csv, b.csv, c.csv and the
log-log plots DIR/a.png, DIR/b.png.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from curves import LIBRARIES, latest_rows, report  # noqa: E402
from epoch_time import dgl_twin, pyg_twin, pygnn  # noqa: E402  (imports torch_geometric)
from dglbal import Rebalancer, analyze, analyze_and_balance  # noqa: E402
from dglbal.data import load_dataset  # noqa: E402
from dglbal.nn import GAT, GCN  # noqa: E402

HERE = Path(__file__).resolve().parent
PARAMS = (1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8)
DEPTHS = (2, 4, 8, 16, 32, 64, 128)
NODES = (1e4, 3e4, 1e5, 3e5, 1e6)
CONVS = ("gatv2", "gat", "gcn")
MIB = 2 ** 20


# ---- measurements, each in a fresh subprocess ----------------------------------------------

def maxrss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def median_time(name: str, run: Callable[[], Any], repeats: int, budget: float,
                setup: Optional[Callable[[], Any]] = None) -> Dict[str, Any]:
    """``{name}_s``: the median wall seconds of ``run`` after one warm-up; ``{name}_cpu_s``:
    the median CPU seconds of this process (all its threads) over the same runs, which other
    load on the machine disturbs less; ``{name}_runs``: how many runs, ``repeats`` or fewer
    (at least one) once they took ``budget`` wall seconds together. ``setup`` runs untimed
    before each run."""
    wall: List[float] = []
    cpu: List[float] = []
    for warm_up in (True,) + (False,) * repeats:
        if not warm_up and wall and sum(wall) >= budget:
            break
        if setup is not None:
            setup()
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        if not warm_up:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return {f"{name}_s": statistics.median(wall), f"{name}_cpu_s": statistics.median(cpu),
            f"{name}_runs": len(wall)}


def sgd_step(model, optimizer, graph, feat, labels, nodes) -> None:
    optimizer.zero_grad()
    F.cross_entropy(model(graph, feat)[nodes], labels[nodes]).backward()
    optimizer.step()


def analysis_worker(config: Dict[str, Any]) -> Dict[str, Any]:
    """(a): the analyser, balancing and rebalancing of one model, against its Cora epoch."""
    torch.manual_seed(0)
    builder = GCN if config["model"] == "gcn" else GAT
    model = builder(1433, config["width"], 7, config["layers"])
    cora = load_dataset("cora")
    feat, labels, train = cora.ndata["feat"], cora.ndata["label"], cora.ndata["train_mask"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    repeats, budget = config["repeats"], config["budget"]
    resident = rss_mib()
    result = median_time("analyze", lambda: analyze(model), repeats, budget)
    result["analysis_mib"] = maxrss_mib() - resident
    result.update(median_time("preserve", lambda: analyze_and_balance(model, mode="preserve"),
                              repeats, budget, setup=model.reset_parameters))
    result.update(median_time("setup", lambda: Rebalancer(model, optimizer=optimizer), repeats,
                              budget))
    result.update(median_time("epoch", lambda: sgd_step(model, optimizer, cora, feat, labels,
                                                        train), repeats, budget))
    rebalancer = Rebalancer(model, optimizer=optimizer, sweeps=10)  # gradients: the epochs'
    result.update(median_time("step", rebalancer.rebalance_, repeats, budget))
    return {**result, "params": sum(p.numel() for p in model.parameters()),
            "groups": len(rebalancer.report.groups), "data_mib": resident}


def random_graph(config: Dict[str, Any]):
    """Every node gets ``degree`` in-edges from uniform sources; dense normal features,
    uniform labels, a random training set. The same for every library (seed 0)."""
    nodes, degree = config["nodes"], config["degree"]
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(0, nodes, (nodes * degree,), generator=generator)
    dst = torch.arange(nodes).repeat_interleave(degree)
    feat = torch.randn(nodes, config["features"], generator=generator)
    labels = torch.randint(0, config["classes"], (nodes,), generator=generator)
    train = torch.randperm(nodes, generator=generator)[:max(1, round(nodes * config["train"]))]
    return src, dst, feat, labels, train


def layer_model(config: Dict[str, Any]):
    """dglbal's model for ``config["conv"]``, or its DGL / PyG twin (same weights)."""
    torch.manual_seed(0)
    sizes = (config["features"], config["hidden"], config["classes"], config["layers"])
    ours = GCN(*sizes) if config["conv"] == "gcn" else GAT(*sizes, conv=config["conv"])
    if config["library"] == "dglbal":
        return ours
    return (dgl_twin if config["library"] == "dgl" else pyg_twin)(ours)


def epoch_worker(config: Dict[str, Any]) -> Dict[str, Any]:
    """(b) and (c): a full-batch or a neighbour-sampled epoch of one library's model."""
    src, dst, feat, labels, train = random_graph(config)
    if config["library"] == "pyg":
        graph = torch.stack([src, dst])
    else:
        graph = dgl.graph((src, dst), num_nodes=config["nodes"])
    del src, dst
    data_mib = rss_mib()
    model = layer_model(config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result: Dict[str, Any] = {"edges": config["nodes"] * config["degree"]}
    if config.get("fanout"):
        sampler = dgl.dataloading.NeighborSampler([config["fanout"]] * config["layers"])
        loader = dgl.dataloading.DataLoader(graph, train, sampler,
                                            batch_size=config["batch_size"], shuffle=True)

        def run():
            for input_nodes, output_nodes, blocks in loader:
                optimizer.zero_grad()
                F.cross_entropy(model(blocks, feat[input_nodes]),
                                labels[output_nodes]).backward()
                optimizer.step()
        result["batches"] = len(loader)
    else:
        def run():
            sgd_step(model, optimizer, graph, feat, labels, train)
    result.update(median_time("epoch", run, config["repeats"], config["budget"]))
    result["data_mib"] = data_mib
    return result


def worker(config: Dict[str, Any]) -> Dict[str, Any]:
    """Measure one configuration. Should memory run out, the kernel's OOM killer is told to
    pick this process first (not the user's other work)."""
    with open("/proc/self/oom_score_adj", "w") as adj:
        adj.write("1000")
    torch.set_num_threads(config["threads"])
    work = {"idle": lambda c: {}, "analysis": analysis_worker, "epoch": epoch_worker}
    result = work[config["kind"]](config)
    result["maxrss_mib"] = maxrss_mib()
    return result


def measure(config: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    """Run one configuration in a fresh interpreter; its result, or ``error`` saying why not.

    The interpreter gets ``OMP_NUM_THREADS`` = the configuration's threads before it starts:
    DGL's kernels use their own OpenMP runtime, which ``torch.set_num_threads`` does not set.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(config)]
    env = {**os.environ, "OMP_NUM_THREADS": str(config["threads"])}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s (--timeout)"}
    if done.returncode != 0:
        cause = " (killed: out of memory?)" if done.returncode == -9 else ""
        last = (done.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"exit {done.returncode}{cause}: {last}"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"no result on the worker's last line: {done.stdout[-200:]!r}"}


# ---- the plan of a run -----------------------------------------------------------------------

def width_for(params: float, in_feats: int = 1433, classes: int = 7, layers: int = 4) -> int:
    """The hidden width w of GCN(in_feats, w, classes, layers) (no bias) with about
    ``params`` parameters: (layers - 2) w^2 + (in_feats + classes) w = params."""
    a, b = layers - 2, in_feats + classes
    return max(1, round((-b + math.sqrt(b * b + 4 * a * params)) / (2 * a)))


def plan(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Every configuration of the run, in order: (a), then (b) and (c) per size and threads."""
    common = {"repeats": args.repeats, "budget": args.budget}
    configs: List[Dict[str, Any]] = []
    if "a" in args.part:
        for threads in args.threads:
            for target in (p for p in args.params if p <= args.max_params):
                configs.append({"part": "a", "kind": "analysis", "curve": "params",
                                "model": "gcn", "width": width_for(target), "layers": 4,
                                "threads": threads, **common})
            for depth in args.depths:
                configs.append({"part": "a", "kind": "analysis", "curve": "depth",
                                "model": "gat", "width": 64, "layers": depth,
                                "threads": threads, **common})
    graph = {"kind": "epoch", "degree": args.degree, "features": 128, "hidden": 64,
             "classes": 8, "layers": args.layers, "train": 0.1, **common}
    nodes = [int(n) for n in args.nodes if n <= args.max_nodes]
    for threads in args.threads:
        for size in nodes:
            for conv in args.convs:
                full = {**graph, "nodes": size, "conv": conv, "threads": threads}
                if "b" in args.part:
                    configs += [{"part": "b", **full, "library": library}
                                for library in args.libraries]
                if "c" in args.part and size == max(nodes):
                    if "b" not in args.part:  # else (b)'s dglbal row is the full batch
                        configs.append({"part": "c", **full, "library": "dglbal"})
                    configs.append({"part": "c", **full, "library": "dglbal",
                                    "fanout": args.fanout, "batch_size": args.batch_size})
    return configs


# ---- the command line ------------------------------------------------------------------------

def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one thread, one repeat: a smoke test (< 1 min)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--params", type=float, nargs="+", default=list(PARAMS),
                        help="(a) parameter counts of the GCN curve")
    parser.add_argument("--max-params", type=float, default=1e8)
    parser.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS))
    parser.add_argument("--nodes", type=float, nargs="+", default=list(NODES))
    parser.add_argument("--max-nodes", type=float, default=1e6)
    parser.add_argument("--degree", type=int, default=10, help="in-edges per node")
    parser.add_argument("--layers", type=int, default=2, help="(b), (c): layers per model")
    parser.add_argument("--convs", nargs="+", choices=CONVS, default=list(CONVS))
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--fanout", type=int, default=5, help="(c) neighbours per layer")
    parser.add_argument("--batch-size", type=int, default=1024, help="(c) seeds per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of timed runs after which a measurement stops repeating")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds after which one configuration's subprocess is stopped")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default benchmarks/results/scaling; "
                             "with --quick a temporary one)")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rebuild tables, files and plots from rows.jsonl")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.params, args.depths, args.nodes = [1e5, 2e5], [2, 4], [2e3, 4e3]
        args.threads, args.convs, args.repeats = args.threads[:1], ["gatv2"], 1
    for name in ("threads", "depths"):
        if min(getattr(args, name)) < 1:
            parser.error(f"--{name} must be positive integers, got {getattr(args, name)}")
    if min(args.nodes) < 10:
        parser.error(f"--nodes must be at least 10, got {args.nodes}")
    for name in ("params", "max_params", "max_nodes", "budget", "timeout"):
        values = getattr(args, name)
        if min(values if isinstance(values, list) else [values]) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {values}")
    for name in ("degree", "layers", "fanout", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, "
                         f"got {getattr(args, name)}")
    if "b" in args.part and "pyg" in args.libraries and pygnn is None:
        parser.error("the pyg column needs torch_geometric: pip install 'dglbal[bench]' "
                     "(or leave it out with --libraries dglbal dgl)")
    if args.out is None:
        args.out = (Path(tempfile.gettempdir()) / "dglbal-scaling-quick" if args.quick
                    else HERE / "results" / "scaling")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    if not args.report_only:
        configs = plan(args)
        if not configs:
            sys.exit("nothing to measure: every size is above --max-params / --max-nodes")
        baseline = measure({"kind": "idle", "threads": 1}, args.timeout)
        if "error" in baseline:
            sys.exit(f"the idle interpreter failed: {baseline['error']}")
        run = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{len(configs)} configurations; idle interpreter {baseline['maxrss_mib']:.0f} "
              f"MiB; results appended to {rows_path}", flush=True)
        for config in configs:
            result = measure(config, args.timeout)
            row = {**config, **result, "run": run, "load": os.getloadavg()[0]}
            if "maxrss_mib" in result:
                row["peak_mib"] = result["maxrss_mib"] - baseline["maxrss_mib"]
                if "data_mib" in result:
                    row["data_mib"] = result["data_mib"] - baseline["maxrss_mib"]
            with open(rows_path, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                     if k not in ("kind", "repeats", "budget", "run", "features", "hidden",
                                  "classes", "train")}
            print(json.dumps(shown), flush=True)
    rows = latest_rows(rows_path)
    if not rows:
        sys.exit(f"no finished measurement in {rows_path}: nothing to report")
    report(rows, args.out,
           {"command": " ".join(["python", "benchmarks/scaling.py"] + sys.argv[1:]),
            "torch": torch.__version__, "dgl": dgl.__version__, "cpus": os.cpu_count(),
            "pyg": None if pygnn is None else sys.modules["torch_geometric"].__version__})


if __name__ == "__main__":
    main()
