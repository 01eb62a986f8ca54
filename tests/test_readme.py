"""The Python examples in README.md run as written and print what the README shows.

Every ```python block is a doctest (``>>>`` lines with their output); the blocks run in
order in one namespace, in a temporary working directory, as a reader would paste them.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in _BLOCK.finditer(text)]


def test_readme_has_python_examples_written_as_doctests() -> None:
    blocks = _blocks()
    assert blocks, "README.md has no ```python block"
    for lineno, block in blocks:
        examples = doctest.DocTestParser().get_examples(block)
        assert examples, (
            f"README.md line {lineno + 1}: write the ```python block as >>> examples with "
            "their output so that it is checked"
        )


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write a report site to ./my-report
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    namespace: dict[str, object] = {"__name__": "README"}
    report: list[str] = []
    for lineno, block in _blocks():
        test = parser.get_doctest(block, namespace, f"README.md:{lineno + 1}", str(README),
                                  lineno)
        runner.run(test, out=report.append, clear_globs=False)
        namespace = test.globs  # DocTest copies its globals: carry them to the next block
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0, "".join(report)
