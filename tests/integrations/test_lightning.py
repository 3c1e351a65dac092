"""BalanceCallback with a real lightning.pytorch Trainer on a small DGL model, on the CPU:
the same parameters, optimizer state and histories as the hand-written loop (balanced init,
accumulation, clipping, rebalancing, monitor), its scalars in the trainer's CSV logger, a
resumed fit equal to an uninterrupted one, and its refusals."""
import copy
import csv
import math

import pytest
import torch
import torch.nn.functional as F

pl = pytest.importorskip("lightning.pytorch")

import dglbal  # noqa: E402
from dglbal.integrations.lightning import BalanceCallback  # noqa: E402
from dglbal.nn import GAT  # noqa: E402

ACCUMULATE, STEPS, CLIP = 2, 4, 1.0


class NodeClassifier(pl.LightningModule):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.graph, self.feat = model.probe_inputs()
        self.labels = torch.arange(self.feat.shape[0]) % 3

    def loss(self, micro):
        out = self.model(self.graph, self.feat * (1 + 0.1 * micro))
        return F.cross_entropy(out, self.labels)

    def training_step(self, batch, batch_idx):
        return self.loss(batch_idx % ACCUMULATE)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(list(range(ACCUMULATE * STEPS)), batch_size=1)


@pytest.fixture(scope="module")
def start():
    torch.manual_seed(3)
    return GAT(8, 8, 3, num_layers=3)


def _trainer(tmp_path, steps=STEPS, **kwargs):
    return pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, max_epochs=-1,
                      accumulate_grad_batches=ACCUMULATE, gradient_clip_val=CLIP,
                      logger=pl.loggers.CSVLogger(str(tmp_path), name="run"),
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0,
                      log_every_n_steps=1, **kwargs)


def _callback():
    return BalanceCallback(module="model", balance="init", every=2, sweeps=3)


def _manual(start):
    """What the callback should amount to, written by hand."""
    module = NodeClassifier(copy.deepcopy(start))
    model = module.model
    report = dglbal.analyze(model)
    dglbal.balance_(model, report, "init", beta=2.0)
    optimizer = module.configure_optimizers()
    rebalancer = dglbal.Rebalancer(model, report, every=2, sweeps=3, optimizer=optimizer)
    monitor = dglbal.ConservationMonitor(model, report)
    for _ in range(STEPS):
        for micro in range(ACCUMULATE):
            (module.loss(micro) / ACCUMULATE).backward()
        monitor.record()
        rebalancer.step()
        torch.nn.utils.clip_grad_norm_(module.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad()
    return module, optimizer, rebalancer, monitor


def _same_state(a, b):
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"]) for i in sa)


def test_the_callback_in_a_trainer_does_what_the_hand_written_loop_does(start, tmp_path):
    module, callback = NodeClassifier(copy.deepcopy(start)), _callback()
    trainer = _trainer(tmp_path, callbacks=[callback])
    trainer.fit(module)
    manual, optimizer, rebalancer, monitor = _manual(start)
    assert all(torch.equal(p, q) for p, q in zip(module.parameters(), manual.parameters()))
    assert _same_state(trainer.optimizers[0], optimizer)
    assert callback.summary is not None and callback.summary.mode == "init"
    assert callback.rebalancer.history == rebalancer.history
    assert [h["call"] for h in rebalancer.history] == [1, 3]
    # repr: exact floats, and NaN (a zero attention vector's relative gradient) equals NaN
    assert repr(callback.monitor.history) == repr(monitor.history)
    assert len(monitor.history["c"]) == STEPS

    # The scalars reach the trainer's logger, one row per optimizer step.
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    drift = [(int(r["step"]), float(r["dglbal/conservation/c_drift_max"])) for r in rows
             if r.get("dglbal/conservation/c_drift_max")]
    assert [s for s, _ in drift] == list(range(STEPS))
    assert all(math.isclose(v, w, rel_tol=1e-6, abs_tol=1e-12)
               for (_, v), w in zip(drift, monitor.c_drift()))
    lam = [float(r["dglbal/rebalance/lambda_max"]) for r in rows
           if r.get("dglbal/rebalance/lambda_max")]
    assert lam == pytest.approx([h["lambda_max"] for h in rebalancer.history], rel=1e-6)


# The resume is mid-epoch; the batches' values are not used (the loss depends on batch_idx).
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before")
def test_a_resumed_fit_equals_an_uninterrupted_one(start, tmp_path):
    whole, whole_callback = NodeClassifier(copy.deepcopy(start)), _callback()
    _trainer(tmp_path / "whole", callbacks=[whole_callback]).fit(whole)
    first = NodeClassifier(copy.deepcopy(start))
    trainer = _trainer(tmp_path / "first", steps=STEPS // 2, callbacks=[_callback()])
    trainer.fit(first)
    checkpoint = tmp_path / "half.ckpt"
    trainer.save_checkpoint(checkpoint)
    resumed, callback = NodeClassifier(copy.deepcopy(start)), _callback()
    _trainer(tmp_path / "resumed", callbacks=[callback]).fit(resumed, ckpt_path=checkpoint)
    assert callback.summary is None  # the checkpoint's weights were kept, not re-balanced
    assert all(torch.equal(p, q) for p, q in zip(resumed.parameters(), whole.parameters()))
    assert callback.rebalancer.history == whole_callback.rebalancer.history
    assert repr(callback.monitor.history) == repr(whole_callback.monitor.history)


def test_a_second_fit_continues_from_the_trained_weights(start, tmp_path):
    module, callback = NodeClassifier(copy.deepcopy(start)), _callback()
    _trainer(tmp_path / "one", steps=1, callbacks=[callback]).fit(module)
    trained = copy.deepcopy(module.model)
    first_summary = callback.summary
    # A monitor that runs first records c_g of the weights the second fit starts from.
    probe = BalanceCallback(module="model", balance=None, rebalance=None, log=False)
    _trainer(tmp_path / "two", steps=1, callbacks=[probe, callback]).fit(module)
    assert callback.summary is first_summary  # not balanced again
    start_c = torch.tensor(probe.monitor.history["c"][0], dtype=torch.float64)
    expected = dglbal.balance_constants(trained, callback.report)  # not ~0, as re-balanced
    assert expected.abs().max() > 1 and torch.allclose(start_c, expected, rtol=1e-12, atol=0)
    assert len(callback.monitor.history["c"]) == 1  # a new monitor for the new fit


class PoisonedClassifier(NodeClassifier):
    """The second optimizer step's gradients hold infs: AMP's scaler skips that step. (The
    forward runs in float32: DGL's CPU kernels take no float16; the scaler is the subject.)"""

    def training_step(self, batch, batch_idx):
        with torch.autocast("cpu", enabled=False):
            loss = super().training_step(batch, batch_idx)
        return loss * float("inf") if batch_idx // ACCUMULATE == 1 else loss


def test_under_amp_the_callback_leaves_out_the_steps_the_scaler_skips(start, tmp_path,
                                                                      grad_scaler):
    scaler = grad_scaler(init_scale=2.0 ** 10)
    precision = pl.plugins.precision.MixedPrecision("16-mixed", "cpu", scaler=scaler)
    module, callback = PoisonedClassifier(copy.deepcopy(start)), _callback()
    _trainer(tmp_path, callbacks=[callback], plugins=[precision]).fit(module)
    assert scaler.get_scale() < 2.0 ** 10  # the scaler did skip a step
    assert callback.rebalancer.calls == STEPS - 1
    assert len(callback.monitor.history["c"]) == STEPS - 1
    rel = [v for row in callback.monitor.history["rel_grad"] for v in row.values()]
    assert all(math.isnan(v) or 0 <= v < 100 for v in rel)  # unscaled gradients


def test_refusals(start, tmp_path):
    with pytest.raises(ValueError, match="mode must be 'init' or 'preserve'"):
        BalanceCallback(balance="xavier")
    with pytest.raises(ValueError, match="criterion must be one of"):
        BalanceCallback(rebalance="relgrad")
    with pytest.raises(ValueError, match="every must be a positive integer"):
        BalanceCallback(every=0)
    with pytest.raises(TypeError, match="example_inputs must be a tuple or list"):
        BalanceCallback(example_inputs=torch.zeros(3))
    module = NodeClassifier(copy.deepcopy(start))
    with pytest.raises(ValueError, match="module='net', but NodeClassifier has no such"):
        _trainer(tmp_path, callbacks=[BalanceCallback(module="net")]).fit(module)


class ScaledClassifier(NodeClassifier):
    """A LightningModule whose forward takes a scale by keyword only."""

    def forward(self, graph, feat, *, scale):
        return self.model(graph, feat * scale)


def test_keyword_inputs_reach_the_analysis(start, tmp_path):
    module = ScaledClassifier(copy.deepcopy(start))
    callback = BalanceCallback((module.graph, module.feat),
                               forward_kwargs={"scale": torch.tensor(2.0)}, rebalance=None)
    _trainer(tmp_path, steps=1, callbacks=[callback]).fit(module)
    assert len(callback.report.groups) == 16  # (L - 1) x width hidden neurons of the GAT
    with pytest.raises(TypeError, match="forward_kwargs must be a dict"):
        BalanceCallback(forward_kwargs=[("scale", 2.0)])
