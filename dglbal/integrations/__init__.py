"""dglbal in other libraries' training loops, each behind its optional extra.

- :mod:`dglbal.integrations.lightning`: :class:`~dglbal.integrations.lightning.BalanceCallback`
  for PyTorch Lightning's ``Trainer`` (``pip install 'dglbal[lightning]'``).

Plain PyTorch needs no integration: ``Rebalancer(...).attach(optimizer)`` and
``ConservationMonitor(...).attach(optimizer)`` (:mod:`dglbal.balance.hooks`), with
``writer=SummaryWriter(...)`` for TensorBoard. Importing this package imports no optional
dependency.
"""

__all__: list = []
