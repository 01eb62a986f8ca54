"""Bridges between deepview and deep-learning frameworks.

Each framework lives in its own subpackage and is imported only when you import that
subpackage, so ``import deepview.integrations`` never imports a framework:

- :mod:`deepview.integrations.torch` (extra ``torch``): ``TorchModel`` (a
  :class:`deepview.base.Model` over a ``torch.nn.Module``), ``TorchProducer`` and
  ``ProducerTorchDataset`` (DataLoader <-> producer bridges), ``apply_pfa_recipe``
  (turn a PFA recipe into a smaller network) and the small load_digits CNN used by the
  examples and ``deepview demo``.
"""
