"""The report of benchmarks/scaling.py's cost curves (benchmarks/curves.py): fitted
exponents, tables and the newest row per configuration. The measurements themselves are
benchmarks, run by hand."""
import json

import pytest


def test_fit_exponent_recovers_power_laws(curves):
    sizes = [1e4, 3e4, 1e5, 3e5, 1e6]
    for power in (0.5, 1.0, 2.0):
        costs = [3e-7 * s ** power for s in sizes]
        assert curves.fit_exponent(sizes, costs) == pytest.approx(power, abs=1e-9)


def test_fit_exponent_from_a_size_on(curves):
    """Quadratic below 1e6, linear from there: the fit from 1e6 on sees only the linear part."""
    sizes = [1e4, 1e5, 1e6, 1e7, 1e8]
    costs = [s * s / 1e6 if s < 1e6 else s for s in sizes]
    assert curves.fit_exponent(sizes, costs, min_size=1e6) == pytest.approx(1.0)
    assert curves.fit_exponent(sizes, costs) > 1.2


@pytest.mark.parametrize("sizes, costs, match", [
    ([1e4], [1.0], "two distinct sizes"),
    ([1e4, 1e4], [1.0, 2.0], "two distinct sizes"),
    ([1e4, 1e5], [1.0, 0.0], "positive and finite"),
    ([1e4, 1e5], [1.0, float("nan")], "positive and finite"),
    ([1e4, 1e5], [1.0], "equal length"),
])
def test_fit_exponent_refuses_what_it_cannot_fit(curves, sizes, costs, match):
    with pytest.raises(ValueError, match=match):
        curves.fit_exponent(sizes, costs)


def test_exponents_one_record_per_curve(curves):
    rows = ([{"lib": "a", "n": n, "t": 2.0 * n} for n in (10, 100, 1000)]
            + [{"lib": "b", "n": n, "t": n ** 2} for n in (10, 100)]
            + [{"lib": "c", "n": 10, "t": 1.0}, {"lib": "b", "n": 1000, "t": None}])
    records = {r["lib"]: r for r in curves.exponents(rows, ("lib",), "n", ("t",))}
    assert records["a"]["exponent"] == pytest.approx(1.0)
    assert records["b"]["exponent"] == pytest.approx(2.0)
    assert (records["b"]["from"], records["b"]["to"], records["b"]["points"]) == (10, 100, 2)
    assert records["c"]["exponent"] is None  # one point: no exponent, but not left out
    assert curves.exponents(rows, ("lib",), "n", ("t",), min_size=1e4) == []


def test_format_table_aligns_and_marks_missing_cells(curves):
    text = curves.format_table(("name", "seconds"), [("gcn", 0.012345), ("gatv2", None),
                                                     ("gat", 1466.7), ("big", 2.5e7)])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split("|")[1:3] == ["   gcn ", "  0.0123 "]
    assert [line.split("|")[2].strip() for line in lines[3:]] == ["-", "1467", "2.5e+07"]
    with pytest.raises(ValueError, match="every row must have 2 cells"):
        curves.format_table(("name", "seconds"), [("gcn",)])


def test_b_table_ratios_and_missing_libraries(curves):
    base = {"part": "b", "conv": "gcn", "threads": 1, "nodes": 100, "edges": 1000}
    rows = [{**base, "library": "dglbal", "epoch_s": 1.0, "peak_mib": 10.0},
            {**base, "library": "dgl", "epoch_s": 4.0, "peak_mib": 20.0}]
    header, body = curves.b_table(rows)
    line = dict(zip(header, body[0]))
    assert line["dglbal/dgl"] == pytest.approx(0.25)
    assert line["dglbal/pyg"] is None and line["pyg s"] is None
    assert line["dgl MiB"] == 20.0


def test_latest_rows_keeps_the_newest_success_per_configuration(curves, tmp_path):
    config = {"part": "b", "conv": "gcn", "threads": 1, "nodes": 100, "library": "dgl"}
    lines = [{**config, "epoch_s": 1.0}, {**config, "epoch_s": 2.0},
             {**config, "error": "exit -9"}, {**config, "threads": 2, "epoch_s": 3.0}]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = curves.latest_rows(path)
    assert sorted((r["threads"], r["epoch_s"]) for r in rows) == [(1, 2.0), (2, 3.0)]


def test_report_writes_tables_exponents_and_plots(curves, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a = [{"part": "a", "curve": curve, "threads": 1, "layers": layers, "width": 64,
          "params": params, "groups": 64 * layers, "analysis_mib": 1e-5 * params,
          "peak_mib": 100.0,
          **{f"{step}{clock}": 1e-6 * params for step in curves.TIMES for clock in curves.CLOCKS}}
         for curve, layers, params in [("params", 4, 1e5), ("params", 4, 1e6),
                                       ("params", 4, 1e7), ("depth", 2, 9e4),
                                       ("depth", 8, 1.2e5)]]
    b = [{"part": "b", "conv": "gcn", "degree": 10, "threads": 1, "library": library,
          "nodes": nodes,
          "edges": 10 * nodes, "epoch_s": factor * nodes, "epoch_cpu_s": factor * nodes,
          "peak_mib": factor * nodes}
         for library, factor in (("dglbal", 1e-6), ("dgl", 2e-6)) for nodes in (10000, 100000)]
    b.append({**b[1], "degree": 30, "edges": 3000000, "epoch_s": 1.0})  # a curve of its own
    c = [{"part": "c", "conv": "gcn", "threads": 1, "library": "dglbal", "nodes": 100000,
          "edges": 1000000, "epoch_s": 1.0, "epoch_cpu_s": 1.0, "peak_mib": 50.0},
         {"part": "c", "conv": "gcn", "threads": 1, "library": "dglbal", "nodes": 100000,
          "edges": 1000000, "epoch_s": 3.0, "epoch_cpu_s": 3.0, "peak_mib": 20.0, "fanout": 5,
          "batches": 10}]
    summary = curves.report(a + b + c, tmp_path, {"command": "test"})
    fits = {(f.get("curve") or f["library"], f["metric"], f["from"]): f["exponent"]
            for f in summary["exponents"]}
    assert fits[("params", "analyze_s", 1e5)] == pytest.approx(1.0)
    assert fits[("params", "analyze_s", 1e6)] == pytest.approx(1.0)  # the fit from 1e6 on
    assert fits[("dgl", "epoch_s", 1e4)] == pytest.approx(1.0)
    assert fits[("dglbal", "epoch_s", 1e4)] == pytest.approx(1.0)
    assert fits[("dglbal", "epoch_s", 1e5)] is None  # degree 30: one point
    printed = capsys.readouterr().out
    lines = printed.split("(c) full-batch")[1].splitlines()
    assert [cell.strip() for cell in lines[3].split("|")[1:-1]] == [
        "gcn", "1", "100000", "1000000", "1", "3", "3", "10", "50", "20"]
    saved = json.loads((tmp_path / "scaling.json").read_text())
    assert saved["command"] == "test" and len(saved["rows"]) == len(a + b + c)
    for name in ("a.csv", "b.csv", "c.csv", "a.png", "b.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_c_table_takes_the_full_batch_epoch_from_part_b(curves):
    graph = {"conv": "gcn", "threads": 1, "nodes": 100, "edges": 1000, "library": "dglbal"}
    rows = [{**graph, "part": "b", "epoch_s": 2.0, "peak_mib": 40.0},
            {**graph, "part": "c", "epoch_s": 1.0, "peak_mib": 10.0, "fanout": 5,
             "batches": 4},
            {**graph, "part": "b", "nodes": 10, "edges": 100, "epoch_s": 0.5, "peak_mib": 5.0}]
    header, body = curves.c_table(rows)
    assert len(body) == 1  # the graph without a sampled epoch has no line
    line = dict(zip(header, body[0]))
    assert (line["full s"], line["sampled s"], line["sampled/full"]) == (2.0, 1.0, 0.5)
    assert (line["full MiB"], line["sampled MiB"], line["batches"]) == (40.0, 10.0, 4)


def test_latest_rows_skips_a_torn_line_with_a_warning(curves, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"part": "b", "nodes": 10, "epoch_s": 1.0}) + "\n"
                    + '{"part": "b", "nod')  # the run was killed while writing this row
    with pytest.warns(UserWarning, match="rows.jsonl:2 is not a JSON row"):
        rows = curves.latest_rows(path)
    assert rows == [{"part": "b", "nodes": 10, "epoch_s": 1.0}]
