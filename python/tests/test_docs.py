"""The Python code blocks of docs/Python.md and the README run as written
(from the repository root); those that import torch only where PyTorch is
installed."""

import importlib.util
import os
import re

import pytest

from conftest import ROOT

PAGES = [ROOT / "docs/Python.md", ROOT / "README.md"]


def blocks():
    for page in PAGES:
        text = page.read_text()
        for number, match in enumerate(
                re.finditer(r"```python\n(.*?)```", text, re.S)):
            yield pytest.param(match.group(1),
                               id=f"{page.name}-{number}")


@pytest.mark.parametrize("code", list(blocks()))
def test_code_block_runs(code, monkeypatch):
    if re.search(r"^import .*torch", code, re.M) and \
            importlib.util.find_spec("torch") is None:
        pytest.skip("the block needs PyTorch, which is not installed")
    monkeypatch.chdir(ROOT)
    exec(compile(code, "<doc>", "exec"), {})


def test_pages_have_blocks():
    assert len(list(blocks())) >= 4
