"""Hugging Face ``datasets`` integration (extra ``hf``): :class:`HFDatasetProducer`."""

from __future__ import annotations

from deepview._optional import require

require("datasets", feature="deepview.integrations.hf", extra="hf")

from deepview.integrations.hf._dataset import HFDatasetProducer  # noqa: E402

__all__ = ["HFDatasetProducer"]
