"""Reference numbers of "Are GATs Out of Balance?": test accuracy (%), mean and 95% CI over
5 runs, as printed in the paper.

GAT (GATv2, width 64, one head): Table 2 (SGD: Citeseer, Pubmed, heterophilous sets),
Table 3 (SGD, Cora), Table 4 (Adam, Cora). GCN on Cora, SGD: Table 7 (``xavier`` = Xavier,
``bal_x`` = Xavier+Bal, ``looks_linear`` = LLortho, ``bal_o`` = LLortho+Bal).
"""
from typing import Dict, Optional, Tuple

__all__ = ["GAT_SGD", "GAT_ADAM", "GCN_SGD_CORA", "reference_interval", "reference",
           "reference_text"]

_DEPTHS = (2, 5, 10, 20, 40)
Interval = Tuple[float, float]  # (mean, half-width of the 95% CI)


def _rows(**rows) -> Dict[str, Dict[int, Interval]]:
    return {scheme: dict(zip(_DEPTHS, values)) for scheme, values in rows.items()}


GAT_SGD: Dict[str, Dict[str, Dict[int, Interval]]] = {
    "citeseer": _rows(
        xavier=((71.82, 2.73), (58.4, 2.25), (24.7, 8.9), (19.23, 1.54), (18.72, 1.15)),
        bal_x=((71.62, 0.8), (68.83, 1.62), (64.13, 1.57), (54.88, 7.95), (42.63, 17.47)),
        bal_o=((72.02, 0.63), (70.63, 0.6), (68.83, 1.68), (68.7, 1.18), (63.4, 1.43))),
    "pubmed": _rows(
        xavier=((77.26, 1.39), (70.68, 2.16), (67.32, 10.7), (36.52, 11.5), (27.2, 13.99)),
        bal_x=((78.02, 0.73), (75.66, 1.81), (77.6, 1.56), (76.44, 1.7), (75.74, 2.94)),
        bal_o=((77.68, 0.45), (76.62, 1.59), (77.04, 2.14), (78.2, 0.61), (77.8, 1.41))),
    "actor": _rows(
        xavier=((27.32, 0.59), (24.6, 0.93), (24.08, 0.8), (22.29, 3.26), (19.46, 5.75)),
        bal_x=((26.0, 0.59), (23.93, 1.42), (24.21, 0.78), (24.74, 1.14), (23.88, 0.97)),
        bal_o=((26.59, 1.03), (24.61, 0.77), (24.17, 0.62), (24.24, 1.05), (23.93, 1.53))),
    "chameleon": _rows(
        xavier=((52.81, 1.37), (54.21, 1.05), (30.31, 5.96), (22.19, 2.04), (22.28, 3.15)),
        bal_x=((51.18, 1.94), (54.21, 0.82), (52.11, 3.72), (51.89, 1.89), (38.64, 10.31)),
        bal_o=((50.0, 3.07), (53.95, 1.81), (51.84, 3.21), (52.72, 0.13), (44.3, 1.61))),
    "cornell": _rows(
        xavier=((42.7, 2.51), (41.08, 2.51), (42.7, 1.34), (25.41, 14.64), (22.7, 13.69)),
        bal_x=((41.08, 6.84), (35.14, 11.82), (41.08, 2.51), (40.0, 4.93), (37.84, 5.62)),
        bal_o=((42.16, 1.64), (43.24, 2.12), (36.76, 5.02), (35.68, 3.29), (36.22, 3.42))),
    "squirrel": _rows(
        xavier=((35.2, 0.44), (40.96, 0.92), (21.65, 1.52), (20.23, 1.69), (19.67, 0.29)),
        bal_x=((35.95, 1.69), (40.98, 0.87), (38.98, 1.49), (38.35, 1.07), (25.38, 4.62)),
        bal_o=((35.83, 0.92), (42.52, 1.19), (38.85, 1.36), (39.15, 0.44), (26.57, 1.83))),
    "texas": _rows(
        xavier=((60.0, 1.34), (60.54, 3.42), (58.92, 1.34), (49.73, 20.97), (17.84, 26.98)),
        bal_x=((60.54, 1.64), (61.62, 2.51), (61.62, 2.51), (58.92, 2.51), (56.22, 1.34)),
        bal_o=((60.0, 1.34), (57.3, 1.34), (56.76, 0.0), (58.38, 4.55), (57.3, 3.91))),
    "wisconsin": _rows(
        xavier=((51.37, 6.04), (51.37, 8.9), (51.76, 3.64), (43.14, 25.07), (31.76, 31.5)),
        bal_x=((49.8, 8.79), (54.51, 4.19), (47.84, 7.16), (50.59, 10.49), (41.18, 1.54)),
        bal_o=((49.8, 4.24), (55.69, 3.64), (51.76, 5.68), (49.02, 4.36), (48.24, 4.52))),
    "cora": {"xavier": {5: (73.00, 3.02), 10: (25.48, 18.13)},
             "bal_x": {5: (76.96, 2.21), 10: (77.72, 1.49)},
             "bal_o": {5: (79.48, 0.43), 10: (79.46, 1.34)}},
}

GAT_ADAM = {"cora": {"xavier": {5: (76.18, 1.61), 10: (70.86, 3.99)},
                     "bal_x": {5: (79.38, 2.24), 10: (75.72, 2.35)},
                     "bal_o": {5: (80.20, 0.57), 10: (79.62, 1.27)}}}

_GCN_DEPTHS = (2, 5, 10, 20, 40, 64, 80)
GCN_SGD_CORA = {scheme: dict(zip(_GCN_DEPTHS, values)) for scheme, values in {
    "xavier": ((77.8, 0.9), (73.2, 3.4), (24.1, 4.5), (14.4, 11.2), (13.4, 0.9), (9.8, 5.4),
               (12.4, 19.3)),
    "bal_x": ((80.5, 0.5), (78.3, 0.8), (77.6, 2.0), (62.8, 3.6), (65.9, 7.3), (33.0, 13.4),
              (33.8, 12.9)),
    "looks_linear": ((78.0, 0.3), (80.3, 0.8), (80.0, 1.1), (78.7, 0.5), (28.3, 16.2),
                     (27.3, 12.7), (38.9, 21.3)),
    "bal_o": ((80.9, 0.4), (79.6, 1.0), (80.0, 0.9), (78.8, 1.5), (77.1, 0.9), (76.7, 1.3),
              (77.1, 1.3))}.items()}


def reference_interval(model: str, dataset: str, scheme: str, layers: int,
                       optimizer: str = "sgd") -> Optional[Interval]:
    """The paper's (mean, 95% CI) for this setting, if it reports one (GAT and GCN only: it
    has no SAGE or GIN numbers)."""
    if model == "gcn":
        table = {"cora": GCN_SGD_CORA} if optimizer == "sgd" else {}
    elif model == "gat":
        table = GAT_SGD if optimizer == "sgd" else GAT_ADAM if optimizer == "adam" else {}
    else:
        table = {}
    return table.get(dataset, {}).get(scheme, {}).get(layers)


def reference(model: str, dataset: str, scheme: str, layers: int,
              optimizer: str = "sgd") -> Optional[float]:
    """The paper's mean test accuracy for this setting, if it reports one."""
    interval = reference_interval(model, dataset, scheme, layers, optimizer)
    return None if interval is None else interval[0]


def reference_text(model: str, dataset: str, scheme: str, layers: int,
                   optimizer: str = "sgd") -> Optional[str]:
    """``"79.5 +- 1.3"``: the paper's number as printed beside ours, if it reports one."""
    interval = reference_interval(model, dataset, scheme, layers, optimizer)
    return None if interval is None else f"{interval[0]:.1f} +- {interval[1]:.1f}"
