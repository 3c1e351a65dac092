"""The benchmark scripts' report code (tables, fits), loaded from benchmarks/ (not a package;
its scripts import one another by file name). The measurements themselves are benchmarks, run
by hand."""
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module, with benchmarks/ on sys.path while it loads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}",
                                                      BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def curves() -> ModuleType:
    return load_benchmark("curves")


@pytest.fixture(scope="session")
def epoch_summary() -> ModuleType:
    return load_benchmark("epoch_summary")


@pytest.fixture(scope="session")
def architectures() -> ModuleType:
    return load_benchmark("architectures")


@pytest.fixture(scope="session")
def one_class() -> ModuleType:
    return load_benchmark("one_class")


@pytest.fixture(scope="session")
def paper_agreement() -> ModuleType:
    return load_benchmark("paper_agreement")
