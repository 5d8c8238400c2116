"""Every script command the docs show exists and its flags parse.

Scans the ```bash blocks of README.md, docs/*.md and examples/README.md for
`python <script>.py ARGS` and `bash <script>.sh` lines. Python scripts run in
one child process up to their argument parsing (argparse is stopped right
after it parses), so a renamed flag or a moved script fails here instead of
in a user's shell; shell scripts must exist. The pip lines are what
scripts/setup_venv.sh runs in CI.
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "examples/README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))

# Runs each (script, args) up to the end of its argument parsing.
PARSE_ONLY = r"""
import argparse, json, os, runpy, sys
class Parsed(Exception):
    pass
original = argparse.ArgumentParser.parse_args
def parse_then_stop(self, args=None, namespace=None):
    original(self, args, namespace)
    raise Parsed()
argparse.ArgumentParser.parse_args = parse_then_stop
failures = []
for script, args in json.load(sys.stdin):
    sys.argv = [script] + args
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
        failures.append(f"{script} {args}: never parsed its arguments")
    except Parsed:
        pass
    except SystemExit as exit:
        if exit.code not in (0, None):
            failures.append(f"{script} {args}: exit {exit.code}")
    finally:
        sys.path.pop(0)
print(json.dumps(failures))
"""


def documented_commands():
    """(doc, command line) for every non-comment line of the bash blocks."""
    for doc in DOCS:
        with open(os.path.join(ROOT, doc)) as file:
            text = file.read()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#")[0].strip()
                if line:
                    yield doc, line


def test_documented_scripts_exist_and_parse_their_flags():
    python_runs, missing = [], []
    for doc, line in documented_commands():
        words = shlex.split(line)
        if words[-1] == "&":  # run in the background: the command is the rest
            words = words[:-1]
        if words[0] == "bash":
            if not os.path.exists(os.path.join(ROOT, words[1])):
                missing.append(f"{doc}: {line}")
        elif words[0].endswith("python"):
            script = os.path.join(ROOT, words[1])
            if not os.path.exists(script):
                missing.append(f"{doc}: {line}")
            elif "Eurlex" not in line:  # needs a download; its flags are checked below
                python_runs.append((script, words[2:]))
    python_runs.append((os.path.join(ROOT, "examples", "xml_classification.py"),
                        ["--train", "t.txt", "--test", "t.txt"]))
    assert not missing, missing
    assert len(python_runs) >= 10
    result = subprocess.run([sys.executable, "-c", PARSE_ONLY], input=json.dumps(python_runs),
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
