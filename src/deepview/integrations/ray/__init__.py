"""Ray Data integration (extra ``ray``): deepview on a Ray cluster.

- :class:`RayDatasetProducer`: a producer over a ``ray.data.Dataset`` (numpy batches, the
  same row order on every pass), for every introspector and the dataset report.
- :func:`map_responses`: a deepview :class:`~deepview.base.Model` run in a pool of actors.
- :func:`reduce_dataset`: a partial state (:mod:`deepview.partial`) per block on the
  cluster, merged on the driver.
- :func:`ray_session`: connect to a cluster (or start a local one) with a deadline.

Importing this package imports ray; ``import deepview.integrations`` does not.
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
