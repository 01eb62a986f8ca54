"""Hugging Face ``datasets`` integration (extra ``hf``): :class:`HFDatasetProducer`, a
producer over a dataset saved with ``save_to_disk``, a folder of data files or a dataset in
the local ``datasets`` cache (images or texts, with labels).

Importing this package imports ``datasets``; ``import deepview.integrations`` does not.
"""

from __future__ import annotations

from deepview._optional import require

require("datasets", feature="deepview.integrations.hf", extra="hf")

from deepview.integrations.hf._dataset import HFDatasetProducer  # noqa: E402

__all__ = ["HFDatasetProducer"]
