"""The Python examples of README.md and docs/layers.md run as written, and
no doc repeats a paragraph.

Each ```python block runs in a fresh namespace and an empty directory, as
a reader would paste it into a new session; the blocks are self-contained
(their own imports and data). They share one child process, which imports
TensorFlow once. One rule keeps them quick: integer literals of 100,000 or more
are divided by 100 (the README's 100,000 classes become 1,000), which
changes sizes only, never what the example calls.
"""
import glob
import os
import re

import pytest

from model_helpers import run_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "docs/layers.md"]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LARGE_INT = re.compile(r"(?<![\w.])(\d{1,3}(?:_\d{3})+|\d+)(?![\w.])")


def python_blocks(doc):
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    return [(f"{doc}:{text[:m.start()].count(chr(10)) + 1}", m.group(1))
            for m in PYTHON_BLOCK.finditer(text)]


def shrunk(code):
    """`code` with every integer literal >= 100,000 divided by 100."""
    def shrink(match):
        value = int(match.group(1).replace("_", ""))
        return str(value // 100) if value >= 100_000 else match.group(1)
    return LARGE_INT.sub(shrink, code)


BLOCKS = [block for doc in DOCS for block in python_blocks(doc)]


def test_the_docs_have_python_examples():
    assert {where.split(":")[0] for where, _ in BLOCKS} == set(DOCS)


def test_shrinking_changes_only_large_integer_literals():
    assert shrunk("WTADense(100_000)  # [B, 100000]; 4096, 1e-3, 0.25, x2") == (
        "WTADense(1000)  # [B, 1000]; 4096, 1e-3, 0.25, x2")


# Tracebacks name the doc and the line of the block's opening fence.
RUN_EACH_BLOCK = """
import json, os, sys
for number, (where, code) in enumerate(json.loads(sys.argv[1])):
    os.mkdir(str(number))
    os.chdir(str(number))
    exec(compile(code, where, "exec"), {"__name__": "__main__"})
    os.chdir("..")
    print("ran", where)
"""


@pytest.mark.slow
def test_python_examples_run(tmp_path):
    import json

    blocks = [(where, shrunk(code)) for where, code in BLOCKS]
    output = run_python(RUN_EACH_BLOCK, cwd=tmp_path, args=[json.dumps(blocks)])
    ran = [line for line in output.splitlines() if line.startswith("ran ")]
    assert ran == [f"ran {where}" for where, _ in BLOCKS]


@pytest.mark.parametrize("doc", ["README.md", "examples/README.md"] + sorted(
    os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "docs", "*.md"))))
def test_no_paragraph_is_repeated(doc):
    with open(os.path.join(ROOT, doc)) as f:
        paragraphs = [p.strip() for p in f.read().split("\n\n") if len(p.strip()) > 80]
    repeated = {p for p in paragraphs if paragraphs.count(p) > 1}
    assert not repeated, f"{doc} repeats: {repeated}"
