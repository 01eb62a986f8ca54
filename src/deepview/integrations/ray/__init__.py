"""Ray Data integration (extra ``ray``): deepview on a Ray cluster.

- :class:`RayDatasetProducer`: a :class:`~deepview.base.Producer` over a
  ``ray.data.Dataset`` (numpy batches, the same row order on every pass), for every
  introspector and :class:`~deepview.report.DatasetReport`.
- :func:`map_responses`: run a deepview :class:`~deepview.base.Model` (e.g. a
  ``TorchModel``) in a pool of Ray actors; a Dataset with one column per response.
- :func:`reduce_dataset`: compute a partial state (:mod:`deepview.partial`) per block on the
  cluster and merge the states on the driver, e.g. ``PFAState`` or ``IUAState``.
- :func:`ray_session`: connect to a cluster (or start a local one) with a deadline, and
  shut down what it started.

Importing this package imports ray; ``import deepview.integrations`` does not.  See the
scale-out page of the documentation for what runs where.
"""

from __future__ import annotations

from deepview._optional import require

require("ray", feature="deepview.integrations.ray", extra="ray")
require("ray.data", feature="deepview.integrations.ray", extra="ray")

from deepview.integrations.ray._cluster import (  # noqa: E402
    ClusterUnavailableError,
    RaySession,
    ray_session,
)
from deepview.integrations.ray._inference import map_responses  # noqa: E402
from deepview.integrations.ray._producer import RayDatasetProducer, read_parquet  # noqa: E402
from deepview.integrations.ray._reduce import reduce_dataset  # noqa: E402

__all__ = ["ClusterUnavailableError", "RayDatasetProducer", "RaySession", "map_responses",
           "ray_session", "read_parquet", "reduce_dataset"]
