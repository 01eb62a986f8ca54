"""``import deepview`` and its core subpackages stay light: no heavy optional libraries."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "umap", "pacmap", "faiss", "annoy", "matplotlib", "PIL", "cv2", "numba"]


def test_core_imports_do_not_pull_heavy_dependencies() -> None:
    code = (
        "import json, sys\n"
        "import deepview, deepview.base, deepview.processors, deepview.introspectors\n"
        "import deepview.samples, deepview.typing, deepview.exceptions\n"
        "for m in (deepview.base, deepview.processors, deepview.introspectors):\n"
        "    [getattr(m, name) for name in m.__all__]  # resolve the lazy exports too\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_public_names_resolve() -> None:
    import deepview.base
    import deepview.processors

    for module in (deepview.base, deepview.processors):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    assert deepview.processors.Cacher is deepview.base.Cacher
