"""The trace's data-flow graph: which ops reach an output or an escaping op."""
from dglbal.symmetry.dataflow import ALWAYS, DataFlow


def test_an_op_unused_by_the_outputs_is_not_live():
    flow = DataFlow()
    flow.begin("used")
    flow.close(["p:w", "t:x"], ["t:y"])
    flow.begin("unused")
    flow.close(["p:v"], ["t:z"])
    assert flow.live(["t:y"]) == ({0}, {"p:w", "t:x", "t:y"})


def test_a_root_op_is_found_by_its_id_when_a_link_came_first():
    """A tensor made outside the trace, met while op 0 is recorded, is linked before op 0
    closes: op 0 is the second edge, and rooting at op 0 must reach it and what it read."""
    flow = DataFlow()
    flow.begin("relu")
    flow.close(["p:w"], ["t:h"])
    op = flow.begin("item")
    flow.link(["t:h"], "t:peak")  # the untraced tensor op 1 reads
    flow.mark_escaping()
    flow.close(["t:peak"], [])
    assert op == 1 and [edge[0] for edge in flow.edges] == [0, ALWAYS, 1]
    ops, keys = flow.live([], flow.escaping)
    assert ops == {0, 1, ALWAYS}
    assert keys == {"t:peak", "t:h", "p:w"}


def test_gates_and_names_are_kept_per_op():
    flow = DataFlow()
    flow.begin("softmax")
    flow.close(["t:a"], ["t:b"], gate=True)
    assert flow.edges == [(0, ("t:a",), ("t:b",), True)] and flow.names == {0: "softmax"}
    assert flow.current == ALWAYS and len(flow) == 1
