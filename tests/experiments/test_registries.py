"""One edit in one place: a scheme, a dataset or a training option added to its registry
reaches the builders, the loader, the configuration's checks and the command line."""
import dataclasses

import pytest

import dglbal.data.registry as dataset_registry
import dglbal.init.schemes as scheme_registry
from dglbal.cli import build_parser
from dglbal.data import get_dataset, load_dataset, make_synthetic
from dglbal.experiments.config import TrainConfig, cli_fields, option_name, validate_config
from dglbal.init import InitScheme, get_scheme, scheme_names
from dglbal.nn import GAT


def _choices(parser, command, dest):
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return next(a for a in sub._actions if a.dest == dest).choices


def test_a_registered_scheme_reaches_builders_config_and_cli(monkeypatch):
    scheme = InitScheme("he_balanced", "He, then balanced", "he", balance_beta=2.0)
    monkeypatch.setitem(scheme_registry._SCHEMES, scheme.name, scheme)
    assert get_scheme("he_balanced") is scheme and "he_balanced" in scheme_names()
    model = GAT(6, 4, 3, num_layers=3, init="he_balanced")
    assert model.layer_init == "he"
    validate_config(TrainConfig(schemes=["he_balanced"]))
    assert "he_balanced" in _choices(build_parser(), "train", "schemes")


def test_a_scheme_needing_the_graph_says_so():
    with pytest.raises(ValueError, match="needs the data"):
        GAT(6, 4, 3, num_layers=3, init="gnn_he")


def test_a_registered_dataset_reaches_the_loader_and_cli(monkeypatch):
    spec = dataset_registry.DatasetSpec("tiny", "synthetic", needs_files=False,
                                        loader=lambda root, split, seed, bidirected:
                                        make_synthetic(seed=seed))
    monkeypatch.setitem(dataset_registry._DATASETS, "tiny", spec)
    assert get_dataset("TINY") is spec
    assert load_dataset("tiny").num_nodes() == load_dataset("synthetic").num_nodes()
    assert "tiny" in _choices(build_parser(), "sweep", "dataset")
    with pytest.raises(ValueError, match="unknown dataset 'nope'; choose from"):
        get_dataset("nope")


def test_every_option_is_generated_from_a_config_field():
    parser = build_parser()
    for f in cli_fields():
        sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
        action = next(a for a in sub._actions if a.dest == f.name)
        assert option_name(f) in action.option_strings


def test_a_checked_field_is_refused_by_its_option_name():
    checked = [f for f in cli_fields() if f.metadata["cli"]["check"] == "positive_int"]
    assert checked
    for f in checked:
        bad = dataclasses.replace(TrainConfig(), **{f.name: 0})
        with pytest.raises(ValueError, match=f"^{option_name(f)} must be a positive integer"):
            validate_config(bad)
