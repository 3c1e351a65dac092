"""The report of benchmarks/scaling.py: exponents fitted on log-log axes, tables and plots.

A curve is the rows of one series (the same model, library and thread count, say) ordered by
a size column; its exponent b is the slope of the least-squares line
``log(cost) = a + b log(size)``: 1 for a linear cost, 2 for a quadratic one.
"""
from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from dglbal._plotting import new_figure

Curve = Tuple[List[float], List[float]]
LIBRARIES = ("dglbal", "dgl", "pyg")


def fit_exponent(sizes: Sequence[float], costs: Sequence[float],
                 min_size: Optional[float] = None) -> float:
    """The slope of the least-squares line through ``(log size, log cost)``.

    Parameters
    ----------
    sizes, costs : sequence of float
        The curve's points, of equal length; every size and cost positive and finite.
    min_size : float, optional
        Leave out the points with a smaller size (the fit "from 1e6 on").

    Raises
    ------
    ValueError
        The lengths differ, a size or cost is not positive and finite, or fewer than two
        distinct sizes remain.
    """
    x, y = np.asarray(sizes, dtype=float), np.asarray(costs, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"sizes and costs must be two sequences of equal length, got shapes "
                         f"{x.shape} and {y.shape}")
    if min_size is not None:
        x, y = x[x >= min_size], y[x >= min_size]
    if not (np.isfinite(x).all() and np.isfinite(y).all() and (x > 0).all() and (y > 0).all()):
        raise ValueError(f"sizes and costs must be positive and finite to fit on log-log axes, "
                         f"got sizes {x.tolist()} and costs {y.tolist()}")
    if np.unique(x).size < 2:
        raise ValueError(f"an exponent needs at least two distinct sizes, got {x.tolist()}"
                         + ("" if min_size is None else f" (sizes >= {min_size:g})"))
    slope, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope)


def curves(rows: Sequence[Mapping[str, Any]], series: Sequence[str], size: str,
           metric: str) -> Dict[Tuple, Curve]:
    """The curves of ``metric`` against ``size``, one per distinct value of the ``series``
    fields, points in increasing size; rows without ``metric`` (a failed measurement) or
    with it None are left out."""
    points: Dict[Tuple, List[Tuple[float, float]]] = {}
    for row in rows:
        if row.get(metric) is not None:
            key = tuple(row[field] for field in series)
            points.setdefault(key, []).append((float(row[size]), float(row[metric])))
    return {key: ([p[0] for p in sorted(pts)], [p[1] for p in sorted(pts)])
            for key, pts in points.items()}


def exponents(rows: Sequence[Mapping[str, Any]], series: Sequence[str], size: str,
              metrics: Sequence[str], min_size: Optional[float] = None) -> List[Dict[str, Any]]:
    """One record per curve and metric: the series fields, ``metric``, the sizes fitted
    (``from``, ``to``, ``points``) and ``exponent`` (None when the curve cannot be fitted:
    one size, or a cost that is not positive). Curves with no size >= ``min_size`` are
    left out."""
    records = []
    for metric in metrics:
        for key, (xs, ys) in curves(rows, series, size, metric).items():
            kept = [x for x in xs if min_size is None or x >= min_size]
            if not kept:
                continue
            try:
                exponent: Optional[float] = fit_exponent(xs, ys, min_size)
            except ValueError:
                exponent = None
            records.append({**dict(zip(series, key)), "metric": metric,
                            "from": min(kept, default=None), "to": max(kept, default=None),
                            "points": len(kept), "exponent": exponent})
    return records


def cell(value: Any) -> str:
    """A table cell: '-' for None, 3 significant digits for a float (no exponent from 1000
    to 1e6), str otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if 1e3 <= abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def format_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded to their widest cell (readable as printed text)."""
    cells = [[str(h) for h in header]] + [[cell(v) for v in row] for row in body]
    if any(len(row) != len(header) for row in cells):
        raise ValueError(f"every row must have {len(header)} cells, like the header")
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot_curves(path: Path, panels: Sequence[Tuple[str, str, str, Mapping[str, Curve]]]) -> None:
    """Write a PNG with one log-log panel per ``(title, xlabel, ylabel, {label: curve})``,
    side by side in rows of at most three."""
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure, axes = new_figure(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for ax, (title, xlabel, ylabel, lines) in zip(axes.flat, panels):
        for label, (xs, ys) in lines.items():
            ax.loglog(xs, ys, marker="o", label=label)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if lines:
            ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


# ---- scaling.py's rows -------------------------------------------------------------------------

def config_key(row: Dict[str, Any]) -> str:
    fields = ("part", "kind", "curve", "model", "width", "layers", "threads", "nodes", "degree",
              "conv", "library", "fanout", "batch_size", "features", "hidden", "train")
    return json.dumps({f: row.get(f) for f in fields}, sort_keys=True)


def latest_rows(path: Path) -> List[Dict[str, Any]]:
    """The newest successful row of each configuration in rows.jsonl; a line that is not
    JSON (a run killed while writing it) is skipped with a warning naming it."""
    rows: Dict[str, Dict[str, Any]] = {}
    if path.exists():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            try:
                row = json.loads(line)
            except ValueError:
                warnings.warn(f"{path}:{number} is not a JSON row; skipped: {line[:80]!r}")
                continue
            if "error" not in row:
                rows[config_key(row)] = row
    return list(rows.values())


TIMES = ("analyze", "preserve", "setup", "step", "epoch")  # (a)'s timed steps
CLOCKS = {"_s": "wall seconds", "_cpu_s": "CPU seconds (all threads of the process)"}


def report(rows: List[Dict[str, Any]], out: Path, meta: Dict[str, Any]) -> Dict[str, Any]:
    """Print the tables and exponents of ``rows`` and write the files (scaling.json: ``meta``,
    the rows and the exponents; a.csv, b.csv, c.csv; a.png, b.png); returns the summary."""
    a = sorted((r for r in rows if r["part"] == "a"),
               key=lambda r: (r["threads"], r["curve"], r["params"]))
    b = [r for r in rows if r["part"] == "b"]
    c = [r for r in rows if r["part"] == "c"]
    a_metrics = [t + clock for clock in CLOCKS for t in TIMES] + ["analysis_mib"]
    by_params = [r for r in a if r["curve"] == "params"]
    fits = (exponents(by_params, ("curve", "threads"), "params", a_metrics)
            + exponents(by_params, ("curve", "threads"), "params",
                        ("analyze_s", "analyze_cpu_s"), min_size=9e5)  # "1e6" is 998,498
            + exponents([r for r in a if r["curve"] == "depth"], ("curve", "threads"),
                        "layers", a_metrics)
            + exponents(b, ("conv", "degree", "threads", "library"), "nodes",
                        ("epoch_s", "epoch_cpu_s", "peak_mib")))
    for clock, unit in CLOCKS.items():
        if a:
            print(f"\n(a) analysis, balancing and rebalancing; {unit}, MiB")
            print(format_table(*a_table(a, clock)))
        if b:
            print(f"\n(b) one full-batch epoch per library; {unit}, peak MiB")
            print(format_table(*b_table(b, clock)))
        if c:
            print(f"\n(c) full-batch against neighbour-sampled epochs of dglbal's model; {unit}")
            print(format_table(*c_table(c + [r for r in b if r["library"] == "dglbal"], clock)))
    if fits:
        print("\nfitted exponents (cost ~ size ** exponent)")
        print(format_table(("series", "metric", "from", "to", "points", "exponent"),
                           [(series_label({k: v for k, v in f.items() if k != "metric"}),
                             f["metric"], f["from"], f["to"], f["points"],
                             f["exponent"]) for f in fits]))
    summary = {**meta, "rows": rows, "exponents": fits}
    (out / "scaling.json").write_text(json.dumps(summary, indent=1) + "\n")
    for part, part_rows in (("a", a), ("b", b), ("c", c)):
        if part_rows:
            fields = sorted({k for r in part_rows for k in r})
            with open(out / f"{part}.csv", "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(part_rows)
    plot(a, b, out)
    return summary


def series_label(record: Dict[str, Any]) -> str:
    """'params, 1 thr', 'gatv2 dglbal, 2 thr', 'gcn dgl deg 30, 1 thr': a curve's name in
    tables and legends (the degree when it is not 10)."""
    name = " ".join(str(record[k]) for k in ("curve", "conv", "library", "metric")
                    if k in record)
    if record.get("degree", 10) != 10:
        name += f" deg {record['degree']}"
    return f"{name}, {record['threads']} thr"


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    return numerator / denominator if numerator and denominator else None


def a_table(a: List[Dict[str, Any]], clock: str = "_s"
            ) -> Tuple[Sequence[str], List[Sequence[Any]]]:
    """One line per model: the seconds of each step on ``clock``, two of them in epochs."""
    header = ("curve", "thr", "L", "width", "params", "groups", "analyze", "preserve",
              "Rebalancer()", "rebalance_", "epoch", "preserve/epoch", "rebalance_/epoch",
              "analysis MiB", "peak MiB")
    body = [[r["curve"], r["threads"], r["layers"], r["width"], r["params"], r["groups"]]
            + [r[t + clock] for t in TIMES]
            + [ratio(r["preserve" + clock], r["epoch" + clock]),
               ratio(r["step" + clock], r["epoch" + clock]), r["analysis_mib"], r["peak_mib"]]
            for r in a]
    return header, body


def b_table(b: List[Dict[str, Any]], clock: str = "_s"
            ) -> Tuple[Sequence[str], List[Sequence[Any]]]:
    """One line per conv, threads and size: each library's epoch seconds on ``clock`` and
    peak MiB, and dglbal's time over the others'."""
    cells: Dict[Tuple, Dict[str, Dict[str, Any]]] = {}
    for r in b:
        cells.setdefault((r["conv"], r["threads"], r["nodes"], r["edges"]), {})[r["library"]] = r
    header = (["conv", "thr", "nodes", "edges"] + [f"{lib} s" for lib in LIBRARIES]
              + ["dglbal/dgl", "dglbal/pyg"] + [f"{lib} MiB" for lib in LIBRARIES])
    body = []
    for key in sorted(cells):
        libs = cells[key]
        time_of = {lib: libs[lib]["epoch" + clock] if lib in libs else None
                   for lib in LIBRARIES}
        body.append(list(key) + [time_of[lib] for lib in LIBRARIES]
                    + [ratio(time_of["dglbal"], time_of[other]) for other in ("dgl", "pyg")]
                    + [libs[lib]["peak_mib"] if lib in libs else None for lib in LIBRARIES])
    return header, body


def c_table(c: List[Dict[str, Any]], clock: str = "_s"
            ) -> Tuple[Sequence[str], List[Sequence[Any]]]:
    """One line per sampled epoch (conv, threads, graph): it and the full-batch epoch of the
    same model on ``clock``; a full-batch row of part (c) wins over one of part (b)."""
    pairs: Dict[Tuple, Dict[str, Dict[str, Any]]] = {}
    for r in sorted(c, key=lambda r: r["part"] == "c"):
        mode = "sampled" if r.get("fanout") else "full"
        pairs.setdefault((r["conv"], r["threads"], r["nodes"], r["edges"]), {})[mode] = r
    header = ("conv", "thr", "nodes", "edges", "full s", "sampled s", "sampled/full",
              "batches", "full MiB", "sampled MiB")
    body = []
    for key in sorted(k for k in pairs if "sampled" in pairs[k]):
        full, sampled = pairs[key].get("full", {}), pairs[key]["sampled"]
        body.append(list(key) + [full.get("epoch" + clock), sampled.get("epoch" + clock),
                                 ratio(sampled.get("epoch" + clock), full.get("epoch" + clock)),
                                 sampled.get("batches"), full.get("peak_mib"),
                                 sampled.get("peak_mib")])
    return header, body


def plot(a: List[Dict[str, Any]], b: List[Dict[str, Any]], out: Path) -> None:
    """a.png: seconds against parameters and against depth; b.png: wall and CPU seconds and
    MiB against nodes per conv (one line per library and thread count)."""
    def lines(rows, series, size, metrics):
        return {series_label({**dict(zip(series, key)), "metric": metric}): curve
                for metric in metrics for key, curve in curves(rows, series, size, metric).items()}
    if a:
        plot_curves(out / "a.png", [
            (f"(a) against {label}", size, unit,
             lines([r for r in a if r["curve"] == curve], ("threads",), size,
                   [t + clock for t in TIMES]))
            for clock, unit in CLOCKS.items()
            for curve, size, label in (("params", "params", "parameters: GCN(1433, w, 7, 4)"),
                                       ("depth", "layers", "depth: GATv2, width 64"))])
    if b:
        convs = sorted({r["conv"] for r in b})
        plot_curves(out / "b.png", [
            (f"(b) {conv}: {label}", "nodes", unit,
             lines([r for r in b if r["conv"] == conv], ("library", "degree", "threads"),
                   "nodes",
                   (metric,)))
            for metric, label, unit in (("epoch_s", "epoch", "wall seconds"),
                                        ("epoch_cpu_s", "epoch", "CPU seconds"),
                                        ("peak_mib", "peak memory", "MiB"))
            for conv in convs])
