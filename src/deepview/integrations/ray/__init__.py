"""Ray Data integration (extra ``ray``): producers, model inference and partial states on a
Ray cluster."""

from __future__ import annotations

from deepview._optional import require

require("ray", feature="deepview.integrations.ray", extra="ray")
require("ray.data", feature="deepview.integrations.ray", extra="ray")

from deepview.integrations.ray._cluster import ClusterUnavailableError, RaySession, ray_session  # noqa: E402
from deepview.integrations.ray._inference import map_responses  # noqa: E402
from deepview.integrations.ray._producer import RayDatasetProducer, read_parquet  # noqa: E402
from deepview.integrations.ray._reduce import reduce_dataset  # noqa: E402

__all__ = ["ClusterUnavailableError", "RayDatasetProducer", "RaySession", "map_responses",
           "ray_session", "read_parquet", "reduce_dataset"]
