"""benchmarks/paper_agreement.py: the counts RESULTS quotes, from run files, only for runs of
the paper's own setting and cells with every seed."""
import json


def _write(folder, family, scheme, seed, test_acc, layers=10, **config):
    runs = folder / family / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    name = f"cora-gat-L{layers}-{scheme}-s{seed}-{family}"
    record = {"run": name, "dataset": "cora", "model": "gat", "optimizer": "sgd",
              "layers": layers, "scheme": scheme, "seed": seed, "test_acc": test_acc,
              "config": {"protocol": "paper", "dataset": "cora", "model": "gat",
                         "layers": layers, "optimizer": "sgd", **config}}
    (runs / f"{name}.json").write_text(json.dumps(record))


def test_cells_are_compared_with_the_paper_and_counted(paper_agreement, tmp_path, capsys):
    # BalO at L = 10 (paper 79.5 +- 1.3): five runs around it; Xavier (25.5 +- 18.1) far above
    for seed, acc in enumerate([0.79, 0.80, 0.795, 0.785, 0.80]):
        _write(tmp_path, "grid", "bal_o", seed, acc)
        _write(tmp_path, "grid", "xavier", seed, 0.90 + seed / 1000)
        _write(tmp_path, "other", "bal_x", seed, 0.10, epochs=600)  # not the paper's setting
    _write(tmp_path, "grid", "bal_x", 0, 0.77)  # one run: named, not counted
    copy = tmp_path / "copy" / "runs"  # the same run again, in another family: once
    copy.mkdir(parents=True)
    (copy / "a.json").write_text((tmp_path / "grid" / "runs" / "cora-gat-L10-bal_o-s0-grid.json"
                                  ).read_text())
    assert paper_agreement.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| cora | gat | sgd | 10 | bal_o | 79.4 +- 0.8 | 79.5 +- 1.3 | yes | yes | yes |" in out
    assert "| cora | gat | sgd | 10 | xavier | 90.2 +- 0.2 | 25.5 +- 18.1 | **no** | **no** |" \
           " **no** |" in out
    assert "2 cells with 5 runs: overlap 1, ours holds its mean 1, our mean in its interval 1" \
           in out
    assert "fewer runs: cora-gat-sgd-10-bal_x" in out
    assert "epochs" not in out  # the 600-epoch runs are no cell of the paper's
