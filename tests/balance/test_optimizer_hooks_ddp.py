"""attach under DistributedDataParallel (two gloo processes): the hooks run after DDP's
all-reduce, on the step (no_sync accumulation), through the DDP wrapper, and do exactly what
the manual calls do; the replicas stay bit-identical."""
import copy
import json
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

STEPS, ACCUMULATE = 4, 2


def _worker(rank: int, store: str, out: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    import dglbal
    from dglbal.nn import GAT

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.manual_seed(0)
    start = GAT(8, 8, 3, num_layers=3)
    report = dglbal.analyze(nn.parallel.DistributedDataParallel(copy.deepcopy(start)))
    graph, feat = start.probe_inputs()
    labels = torch.arange(feat.shape[0]) % 3
    runs = []
    for attach in (True, False):
        wrapped = nn.parallel.DistributedDataParallel(copy.deepcopy(start))
        optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.05, momentum=0.9)
        # The wrapper itself is given: the report names the wrapped module's parameters.
        rebalancer = dglbal.Rebalancer(wrapped, report, every=2, sweeps=3,
                                       optimizer=None if attach else optimizer)
        monitor = dglbal.ConservationMonitor(wrapped, report)
        if attach:
            monitor.attach(optimizer)
            rebalancer.attach(optimizer)
        params = []
        for step in range(STEPS):
            optimizer.zero_grad(set_to_none=True)
            for micro in range(ACCUMULATE):
                scaled = feat * (1 + rank + 0.5 * micro + step)  # other data on each rank
                if micro < ACCUMULATE - 1:
                    with wrapped.no_sync():
                        F.cross_entropy(wrapped(graph, scaled), labels).backward()
                else:
                    F.cross_entropy(wrapped(graph, scaled), labels).backward()
            if not attach:
                monitor.record()
                rebalancer.step()
            optimizer.step()
            params.append([p.detach().clone() for p in wrapped.parameters()])
        runs.append((params, rebalancer.history, repr(monitor.history)))
    (hooked, history, records), (manual, manual_history, manual_records) = runs
    same = all(torch.equal(p, q) for ps, qs in zip(hooked, manual) for p, q in zip(ps, qs))
    final = torch.cat([p.reshape(-1) for p in hooked[-1]])
    other = final.clone()
    dist.broadcast(other, src=0)
    result = {"same_as_manual": same, "histories_equal": history == manual_history,
              "records_equal": records == manual_records, "rebalances": len(history),
              "replica_gap": float((final - other).abs().max())}
    with open(out, "w") as f:
        json.dump(result, f)
    dist.destroy_process_group()
    os._exit(0)  # as tests/distributed: no teardown of gloo's threads in the worker


def test_attached_hooks_under_ddp_equal_the_manual_calls_and_keep_replicas_equal(
        tmp_path, run_processes):
    outs = [str(tmp_path / f"rank{r}.json") for r in range(2)]
    codes = run_processes(_worker, [(r, str(tmp_path / "store"), outs[r]) for r in range(2)],
                          timeout=240)
    assert codes == [0, 0], f"workers exited with {codes}"
    for out in outs:
        result = json.loads(open(out).read())
        assert result == {"same_as_manual": True, "histories_equal": True,
                          "records_equal": True, "rebalances": 2, "replica_gap": 0.0}
