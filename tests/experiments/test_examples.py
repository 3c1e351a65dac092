"""The examples run (quick settings)."""
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script,args", [
    ("balance_custom_model.py", []),
    ("deep_gat_cora.py", ["--dataset", "synthetic", "--epochs", "2", "--seeds", "1",
                          "--layers", "3"]),
    ("minibatch_sampling.py", ["--epochs", "1", "--layers", "2"]),
])
def test_example_runs(script, args, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script] + args)
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    assert capsys.readouterr().out


def test_conservation_example_is_a_passing_test_module():
    module = runpy.run_path(str(EXAMPLES / "test_conservation_example.py"))
    tests = sorted(name for name in module if name.startswith("test_"))
    assert tests == ["test_conservation_law_on_any_graph", "test_my_model",
                     "test_the_groups_do_not_depend_on_the_graph"]
    for name in tests:
        module[name]()


def test_the_testing_guide_shows_the_example_test_file_whole():
    """The testing guide's copyable test file of the test kit is the example, verbatim."""
    guide = (EXAMPLES.parent / "docs" / "guide" / "testing.md").read_text()
    example = (EXAMPLES / "test_conservation_example.py").read_text()
    body = example[example.index("import os"):]
    assert f"```python\n{body}```" in guide
