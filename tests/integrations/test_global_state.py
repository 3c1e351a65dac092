"""dglbal leaves the user's process as it found it: importing and using it changes no global
state (matplotlib backend, torch's default dtype, thread counts, random states, warnings
filters, logging, grad mode, the environment), DGL writes no config file and prints no
notice, and the optional dependencies stay optional. Each in a fresh interpreter."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code, tmp_path, drop_env=(), **env):
    environment = {k: v for k, v in os.environ.items() if k not in drop_env}
    environment.update(env, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=300)


STATE = """
import hashlib, json, logging, os, random, sys, warnings
import numpy as np, torch, dgl
import matplotlib
matplotlib.use("pdf")
torch.set_num_threads(2)
# torch's own lazy imports, part of any training loop, come before the baseline: an
# optimizer loads torch._dynamo, which adds warnings filters (torch.distributed, sympy).
torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1).zero_grad()

def digest(value):
    return hashlib.sha1(repr(value).encode()).hexdigest()

def snapshot():
    return {"matplotlib backend": matplotlib.get_backend(),
            "pyplot imported": "matplotlib.pyplot" in sys.modules,
            "default dtype": str(torch.get_default_dtype()),
            "threads": torch.get_num_threads(), "interop threads": torch.get_num_interop_threads(),
            "torch rng": digest(torch.get_rng_state().tolist()),
            "numpy rng": digest(np.random.get_state()[1].tolist()),
            "python rng": digest(random.getstate()),
            "warnings filters": repr(warnings.filters),
            "logging": repr((logging.root.level, logging.root.handlers)),
            "grad enabled": torch.is_grad_enabled(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "environment": digest(sorted(os.environ.items())),
            "print options": repr(vars(torch._tensor_str.PRINT_OPTS)) + repr(np.get_printoptions()),
            }

changes = {}
def compare(before, when):
    after = snapshot()
    changes[when] = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
"""

USE = """
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter
from dglbal.nn import GAT

model = GAT(8, 8, 3, num_layers=3)
before = snapshot()
graph, feat = model.probe_inputs()
report = dglbal.analyze_and_balance(model, mode="preserve")
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
writer = SummaryWriter(log_dir="tb")
monitor = dglbal.ConservationMonitor(model, report, writer=writer)
rebalancer = dglbal.Rebalancer(model, report, every=1, writer=writer)
monitor.attach(optimizer)
rebalancer.attach(optimizer)
for _ in range(3):
    optimizer.zero_grad()
    F.cross_entropy(model(graph, feat), torch.arange(len(feat)) % 3).backward()
    optimizer.step()
writer.close()
monitor.plot("monitor.png")
monitor.save_json("monitor.json")
dglbal.balance_constants(model, report)
compare(before, "using it")
"""


def test_importing_and_using_dglbal_changes_no_global_state(tmp_path):
    code = STATE + "before = snapshot()\nimport dglbal\ncompare(before, 'import')\n" + USE + \
        "print(json.dumps(changes))"
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    changes = json.loads(done.stdout.strip().splitlines()[-1])
    assert changes == {"import": {}, "using it": {}}
    assert (tmp_path / "monitor.png").stat().st_size > 0 and any((tmp_path / "tb").iterdir())


def test_dgl_writes_no_config_file_and_the_environment_is_left_alone(tmp_path):
    code = """
    import json, os, sys
    import dglbal, dgl
    print(json.dumps({"DGLBACKEND" : os.environ.get("DGLBACKEND"),
                      "backend": dgl.backend.backend_name}))
    """
    home = tmp_path / "dglhome"
    done = _python(code, tmp_path, drop_env=("DGLBACKEND",), DGLDEFAULTDIR=str(home),
                   HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"DGLBACKEND": None,
                                                                  "backend": "pytorch"}
    assert not home.exists() and "backend not selected" not in done.stderr


def test_optional_dependencies_stay_optional(tmp_path):
    """Without lightning, tensorboard and matplotlib (their imports blocked) dglbal imports and
    works; what needs one says which extra to install."""
    code = """
    import sys
    for name in ("lightning", "pytorch_lightning", "tensorboard", "matplotlib"):
        sys.modules[name] = None  # `import name` raises ImportError
    import torch
    import dglbal, dglbal.balance, dglbal.integrations, dglbal.testing
    from dglbal.nn import GAT
    model = GAT(8, 8, 3, num_layers=3)
    report = dglbal.analyze_and_balance(model)
    monitor = dglbal.ConservationMonitor(model, report)
    model(*model.probe_inputs()).sum().backward()
    monitor.record()
    monitor.save_json("monitor.json")
    for attempt in (lambda: __import__("dglbal.integrations.lightning"),
                    lambda: monitor.plot("monitor.png")):
        try:
            attempt()
        except ImportError as error:
            print("refused:", error)
    """
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: dglbal.integrations.lightning needs PyTorch Lightning: pip install " \
           "'dglbal[lightning]'" in done.stdout
    assert "refused: plotting needs matplotlib: pip install 'dglbal[plot]'" in done.stdout
    assert (tmp_path / "monitor.json").exists()
