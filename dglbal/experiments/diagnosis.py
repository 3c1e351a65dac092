"""``dglbal diagnose``: :func:`dglbal.diagnose` on the models ``dglbal train`` would train."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from dglbal.data import num_classes
from dglbal.diagnostics import Diagnosis, diagnose

from .atomic import write_json_atomic
from .config import TrainConfig
from .train import build_model, prepare_graph, seed_everything

__all__ = ["diagnose_schemes", "write_diagnoses", "diagnosis_files"]


def diagnose_schemes(config: TrainConfig) -> Dict[str, Diagnosis]:
    """The diagnosis at initialization of ``config``'s model under each of its schemes, built
    with its first seed on its dataset; the loss of the backward pass is the cross-entropy on
    the training nodes."""
    graph = prepare_graph(config, config.load_graph())
    feat, labels = graph.ndata["feat"], graph.ndata["label"]
    in_feats, out_feats = feat.shape[1], num_classes(graph)
    diagnoses = {}
    for scheme in config.schemes:
        seed_everything(config.seeds[0])
        model = build_model(config, scheme, in_feats, out_feats, graph).to(graph.device)
        diagnoses[scheme] = diagnose(model, graph, feat, labels=labels,
                                     mask=graph.ndata["train_mask"])
    return diagnoses


def diagnosis_files(config: TrainConfig) -> List[str]:
    """The files :func:`write_diagnoses` writes, for checking the output folder up front."""
    return [f"diagnosis_{scheme}.{ext}" for scheme in config.schemes for ext in ("json", "png")]


def write_diagnoses(diagnoses: Dict[str, Diagnosis], config: TrainConfig, out: Path
                    ) -> List[Path]:
    """``diagnosis_<scheme>.json`` and ``.png`` under ``out``."""
    written = []
    for scheme, found in diagnoses.items():
        stem = Path(out) / f"diagnosis_{scheme}"
        title = (f"{config.model.upper()} L={config.layers} --init {scheme} on "
                 f"{config.dataset}")
        write_json_atomic(stem.with_suffix(".json"), dict(found.to_dict(), setting=title),
                          indent=1)
        written += [stem.with_suffix(".json"), found.plot(stem.with_suffix(".png"), title)]
    return written
