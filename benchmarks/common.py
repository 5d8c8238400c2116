"""Timing, table, JSON and plot helpers shared by the benchmark scripts."""
import json
import os
import platform
import statistics
import time

# TF_WTA_BENCHMARK_RESULTS redirects the output (the benchmark tests use it).
RESULTS_DIR = os.environ.get("TF_WTA_BENCHMARK_RESULTS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results")


def median_seconds(fn, repeats, warmup=3):
    """Median wall time of `fn()` over `repeats` calls, after `warmup` calls.

    `fn` must block until its result is ready (e.g. call `.numpy()`).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(rows, columns):
    """Prints a list of dicts as an aligned text table with the given columns
    ("-" where a row has no value)."""
    cells = [[str(row.get(c, "-")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))


def write_json(name, rows, **metadata):
    """Writes rows plus machine metadata to results/<name>.json; returns the path."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    info = {"machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), **metadata}
    with open(path, "w") as f:
        json.dump({"metadata": info, "rows": rows}, f, indent=2)
    return path


def plot_path(name, extension="png"):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    return os.path.join(RESULTS_DIR, f"{name}.{extension}")


def reset_peak_memory():
    """Starts a new peak-RSS window for this process (Linux), so a later
    `peak_memory_mb()` excludes setup such as initialising the weights.
    Returns False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_mb():
    """Peak resident memory of this process in MB since the last
    `reset_peak_memory()` (or since it started)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def report(name, rows, plot, columns=None, **metadata):
    """Prints rows as a table, writes results/<name>.json (with the TensorFlow
    version and thread count) and results/<name>.png and .svg (text, for the
    README) drawn by `plot(rows, path)`."""
    import tensorflow as tf

    print_table(rows, columns or list(rows[0]))
    metadata = {"tensorflow": tf.__version__,
                "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                **metadata}
    print("wrote", write_json(name, rows, **metadata))
    for extension in ("png", "svg"):
        plot(rows, plot_path(name, extension))
        print("wrote", plot_path(name, extension))
    pyplot().close("all")


def run_worker(script, args, **overrides):
    """Runs `script` in a fresh Python process (its own peak memory) with the
    flags of `args` (an argparse Namespace) updated by `overrides`.

    Returns the dict that the worker printed as JSON on its last stdout line,
    or None, with its stderr echoed, when it failed.
    """
    import subprocess
    import sys

    command = [sys.executable, script]
    for key, value in {**vars(args), **overrides}.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif isinstance(value, (list, tuple)):
            command += [flag, *map(str, value)]
        elif value is not None and value is not False:
            command.append(f"{flag}={value}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-5000:])
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])
