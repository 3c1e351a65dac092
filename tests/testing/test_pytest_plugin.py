"""The test kit's pytest plugin: the profile a run uses (option, environment, ini file, in that
order), its report header, the fixtures of common graphs, and a user's test file run by
pytest with the plugin."""
import pytest
from hypothesis import settings

from dglbal.testing import pytest_plugin
from dglbal.testing.pytest_plugin import PROFILES, profile_name, pytest_report_header

PLUGIN = ("-p", "dglbal.testing.pytest_plugin")


@pytest.fixture
def keep_profile():
    """A pytest run in this process loads its profile into hypothesis (a global): put this
    session's settings back afterwards."""
    previous = settings.default
    yield
    settings.register_profile("dglbal-tests-session", previous)
    settings.load_profile("dglbal-tests-session")


@pytest.mark.parametrize("args, env, ini, expected", [
    ([], None, None, ""),
    ([], None, "quick", "quick"),
    ([], "thorough", "quick", "thorough"),
    (["--dglbal-profile", "quick"], "thorough", "thorough", "quick"),
])
def test_the_profile_is_taken_from_option_then_environment_then_ini(
        pytester, monkeypatch, args, env, ini, expected):
    if env is None:
        monkeypatch.delenv("DGLBAL_PROFILE", raising=False)
    else:
        monkeypatch.setenv("DGLBAL_PROFILE", env)
    if ini is not None:
        pytester.makeini(f"[pytest]\ndglbal_profile = {ini}\n")
    config = pytester.parseconfig(*PLUGIN, *args)
    assert profile_name(config) == expected
    header = pytest_report_header(config)
    assert header == ([] if not expected else [pytest_report_header(config)[0]])
    if expected:
        assert f"{PROFILES[expected]['max_examples']} examples per property" in header[0]


def test_the_thorough_header_says_how_to_reproduce(pytester, monkeypatch):
    monkeypatch.delenv("DGLBAL_PROFILE", raising=False)
    config = pytester.parseconfig(*PLUGIN, "--dglbal-profile", "thorough")
    assert pytest_report_header(config) == [
        "dglbal profile: thorough (200 examples per property, random: a failure prints "
        "@reproduce_failure(...) to replay it)"]
    assert settings.get_profile("dglbal-quick").derandomize
    assert settings.get_profile("dglbal-thorough").deadline is None


def test_an_unknown_profile_is_a_usage_error(pytester, monkeypatch, keep_profile):
    monkeypatch.setenv("DGLBAL_PROFILE", "fast")
    config = pytester.parseconfig(*PLUGIN)
    with pytest.raises(pytest.UsageError, match="dglbal profile 'fast' .* is not one of "
                                                 "quick, thorough"):
        profile_name(config)
    result = pytester.runpytest_inprocess(*PLUGIN, "--dglbal-profile", "fast")
    assert "invalid choice: 'fast'" in result.stderr.str()


def test_a_users_test_file_runs_with_the_plugin(pytester, monkeypatch, keep_profile):
    """The quick profile: 10 derandomized examples per property (the same on every run), the
    fixtures, and check_model reporting a failure with the group, the graph and the error."""
    monkeypatch.delenv("DGLBAL_PROFILE", raising=False)
    pytester.makepyfile(test_user='''
        import dgl.nn as dglnn
        import torch
        import torch.nn.functional as F
        from hypothesis import given
        from torch import nn
        from dglbal.testing import check_model
        from dglbal.testing.strategies import graphs

        SEEN = []

        class Model(nn.Module):
            def __init__(self, noise=0.0):
                super().__init__()
                self.conv1, self.conv2 = dglnn.GraphConv(3, 4), dglnn.GraphConv(4, 2)
                self.noise = noise

            def forward(self, graph, x):
                h = F.relu(self.conv1(graph, x))
                if self.training:
                    h = h + self.noise * torch.randn_like(h)
                return self.conv2(graph, h)

        @given(graphs())
        def test_counts_examples(graph):
            SEEN.append(graph.num_nodes())

        def test_ten_examples_were_drawn():
            assert len(SEEN) == 10

        def test_fixtures(dglbal_graph, dglbal_bipartite_graph, dglbal_block,
                          dglbal_batched_graph, dglbal_input_sets):
            assert dglbal_graph.num_nodes() == 12 and dglbal_block.is_block
            assert dglbal_batched_graph.batch_size == 3
            assert dglbal_bipartite_graph.canonical_etypes == [("user", "rates", "item")]
            graph, feat = dglbal_input_sets(3, count=1)[0]
            check_model(Model, 3, parts=["symmetry"])

        def test_a_broken_model():
            check_model(lambda: Model(noise=0.1), 3, parts=["monitor"])
    ''')
    result = pytester.runpytest_inprocess(*PLUGIN, "--dglbal-profile", "quick", "-p",
                                          "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["dglbal profile: quick (10 examples per property, "
                                 "derandomized: the same examples on every run)"])
    assert settings.default.max_examples == PROFILES["quick"]["max_examples"]  # it loaded
    result.stdout.re_match_lines([r".*AssertionError: check_model, part 'monitor' \(model seed "
                                  r"\d+; analysed on graph of 1 nodes, 1 edges: \[\(0, 0\)\]; "
                                  r"Tensor\(1, 3\) float32\): the monitor.* group 'conv1 channel "
                                  r"\d' \(parameters conv1.weight, conv1.bias, conv2.weight\).*"])



def test_the_session_keeps_its_profile_after_an_inner_run(pytestconfig):
    """Runs after the inner pytest runs above (same module, in order): their profile did not
    leak into this session."""
    name = profile_name(pytestconfig)
    if name:
        assert settings.default.max_examples == PROFILES[name]["max_examples"]


def test_without_hypothesis_the_fixtures_load_and_a_profile_names_the_extra(pytester):
    """The entry point loads the plugin in every pytest run of an environment with dglbal,
    also one installed without [testing]: it must not break those runs."""
    pytester.makeconftest('''
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        pytest_plugins = ["dglbal.testing.pytest_plugin"]
    ''')
    pytester.makepyfile(test_plain='''
        def test_fixture(dglbal_graph):
            assert dglbal_graph.num_nodes() == 12
    ''')
    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_profile_without_hypothesis_is_a_usage_error_naming_the_extra(pytester, monkeypatch):
    config = pytester.parseconfig(*PLUGIN, "--dglbal-profile", "quick")
    monkeypatch.setattr(pytest_plugin, "settings", None)
    with pytest.raises(pytest.UsageError, match=r"hypothesis is not installed: "
                                                 r"pip install 'dglbal\[testing\]'"):
        profile_name(config)
