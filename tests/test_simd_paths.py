"""Both versions of the CPU hot loops, AVX2 + FMA and portable, against the
numpy references, on one machine: TF_WTA_PORTABLE_KERNELS=1 forces the
portable ones (read once when the library loads, hence a child process per
setting)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import references
import tf_wta

# Runs the ops with hot loops (hashed_matmul and its gradient, sparse_apply,
# the tiled wta_hash) on seeded inputs; saves inputs, outputs and the
# library's cpu_kernels to argv[1].
CHILD = """
import sys
import numpy as np
import tensorflow as tf
import tf_wta

rng = np.random.default_rng(0)
batch, dim, units, candidates = 96, 200, 700, 24
x = rng.standard_normal((batch, dim))
weights = rng.standard_normal((units, dim))
bias = rng.standard_normal(units)
indices = rng.integers(-1, units, (batch, candidates)).astype(np.int32)
grad_out = rng.standard_normal((batch, candidates))
windows = tf_wta.wta_windows(dim, 32, 8, seed=1).numpy()
row_ids = np.sort(rng.choice(units, 300, replace=False)).astype(np.int32)
rows = rng.standard_normal((len(row_ids), dim)).astype(np.float32)
saved = dict(x=x, weights=weights, bias=bias, indices=indices, grad_out=grad_out,
             windows=windows, row_ids=row_ids, rows=rows,
             cpu_kernels=tf_wta.build_info()["cpu_kernels"])
ops = tf_wta.load_ops()
with tf.device("/CPU:0"):
    for dtype in ("float32", "float64", "float16"):
        t = lambda a: tf.constant(a.astype(dtype))
        saved[f"matmul {dtype}"] = tf_wta.hashed_matmul(
            t(x), t(weights), indices, t(bias)).numpy()
        grads = ops.wta_hashed_matmul_grad(t(x), t(weights), indices, t(grad_out))
        for name, value in zip(("grad_x", "units", "rows", "bias_rows"), grads):
            saved[f"grad {name} {dtype}"] = value.numpy()
    saved["wta_hash"] = tf_wta.wta_hash(x.astype(np.float32), windows).numpy()
    gradient = tf.IndexedSlices(tf.constant(rows), tf.constant(row_ids), (units, dim))
    var = tf.Variable(weights.astype(np.float32))
    tf_wta.sparse_apply_sgd(var, 0.5, gradient)
    saved["sgd var"] = var.numpy()
    var = tf.Variable(weights.astype(np.float32))
    m = tf.Variable(tf.zeros((units, dim)))
    v = tf.Variable(tf.fill((units, dim), 0.25))
    tf_wta.sparse_apply_adam(var, m, v, 0.01, 0.9, 0.999, 1e-7, gradient)
    saved.update({"adam var": var.numpy(), "adam m": m.numpy(), "adam v": v.numpy()})
np.savez(sys.argv[1], **saved)
"""

# Relative to the sum of |terms|: float32/float64 sums of ~200 products, and
# float16 results rounded once from float32.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12, "float16": 1e-3}


def _cpu_has_avx2_and_fma():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "avx2" in flags and "fma" in flags


def _start_child(path, portable):
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "TF_WTA_PORTABLE_KERNELS": "1" if portable else ""}
    # cwd: `python -c` puts it first on sys.path, and the source tree's
    # tf_wta/ has no library when CI tests the installed wheel.
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=path.parent)


def _assert_close(got, want, scale, relative, what):
    error = np.abs(got.astype(np.float64) - want)
    bound = relative * scale + 1e-30
    worst = np.unravel_index(np.argmax(error / bound), error.shape)
    assert np.all(error <= bound), (f"{what}: error {error[worst]:.3g} > {bound[worst]:.3g} "
                                    f"at {worst}")


def _check_against_references(out):
    indices = out["indices"]
    valid = indices >= 0
    for dtype, relative in TOLERANCE.items():
        cast = {name: out[name].astype(dtype).astype(np.float64)
                for name in ("x", "weights", "bias", "grad_out")}
        x, weights, bias = cast["x"], cast["weights"], cast["bias"]
        want = references.hashed_matmul(x, weights, indices, bias)
        safe = np.maximum(indices, 0)
        scale = np.where(valid, np.einsum("bd,bcd->bc", np.abs(x), np.abs(weights[safe]))
                         + np.abs(bias[safe]), 0.0)
        _assert_close(out[f"matmul {dtype}"], want, scale, relative, f"hashed_matmul {dtype}")
        g = np.where(valid, cast["grad_out"], 0.0)
        want_x, want_units, want_rows, want_bias = references.hashed_matmul_grad(
            x, weights, indices, cast["grad_out"])
        np.testing.assert_array_equal(out[f"grad units {dtype}"], want_units)
        scale_x = np.einsum("bc,bcd->bd", np.abs(g), np.abs(weights[safe]))
        _assert_close(out[f"grad grad_x {dtype}"], want_x, scale_x, relative, f"grad_x {dtype}")
        rows_of = np.searchsorted(want_units, indices[valid])
        scale_rows = np.zeros(want_rows.shape)
        np.add.at(scale_rows, rows_of, np.abs(g[valid])[:, None] * np.abs(x)[np.nonzero(valid)[0]])
        scale_bias = np.zeros(want_bias.shape)
        np.add.at(scale_bias, rows_of, np.abs(g[valid]))
        _assert_close(out[f"grad rows {dtype}"], want_rows, scale_rows, relative,
                      f"grad_weight_rows {dtype}")
        _assert_close(out[f"grad bias_rows {dtype}"], want_bias, scale_bias, relative,
                      f"grad_bias_rows {dtype}")
    np.testing.assert_array_equal(out["wta_hash"],
                                  references.wta_hash(out["x"].astype(np.float32), out["windows"]))
    _check_sparse_apply(out)


def _check_sparse_apply(out):
    row_ids, rows = out["row_ids"], out["rows"].astype(np.float64)
    initial = out["weights"].astype(np.float32).astype(np.float64)
    want = initial.copy()
    want[row_ids] -= 0.5 * rows
    np.testing.assert_allclose(out["sgd var"], want, rtol=1e-6, atol=1e-6)
    m, v, var = np.zeros_like(initial), np.full_like(initial, 0.25), initial.copy()
    m[row_ids] = 0.1 * rows
    v[row_ids] = 0.999 * 0.25 + 0.001 * rows**2
    var[row_ids] -= 0.01 * m[row_ids] / (np.sqrt(v[row_ids]) + 1e-7)
    np.testing.assert_allclose(out["adam m"], m, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["adam v"], v, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["adam var"], var, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_avx2_and_portable_hot_loops_both_match_the_references(tmp_path):
    paths = {portable: tmp_path / f"portable_{portable}.npz" for portable in (False, True)}
    children = {portable: _start_child(path, portable) for portable, path in paths.items()}
    for portable, child in children.items():
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, f"portable={portable}: {stderr[-4000:]}"
    default, portable = np.load(paths[False]), np.load(paths[True])
    has_avx2 = _cpu_has_avx2_and_fma()
    assert str(default["cpu_kernels"]) == ("avx2" if has_avx2 else "portable")
    assert str(portable["cpu_kernels"]) == "portable"
    for out in (default, portable):
        _check_against_references(out)
    if has_avx2:
        # The AVX2 versions contract multiply-adds into FMAs (one rounding),
        # so their dot products differ in the last bits: the portable run
        # really ran other code.
        assert default["matmul float32"].tobytes() != portable["matmul float32"].tobytes()
