"""Loads the op library once and registers the gradients of its ops.

Loading registers ops and kernels with TensorFlow but creates no tensor and
no device, so users can still configure devices after `import tf_wta`.
"""
import os
import threading

import tensorflow as tf

_LIBRARY_FILE = "_tf_wta_ops.so"
_lock = threading.Lock()
_library = None


def _major_minor(version):
    return tuple(version.split(".")[:2])


def _check_tensorflow_version():
    try:
        from tf_wta import _build_info
    except ImportError as error:
        raise ImportError(
            "tf_wta's op library has not been built. Install the package with "
            "`pip install .`, or build it in place with "
            "`python setup.py build_ext --inplace`.") from error
    if _major_minor(_build_info.TF_VERSION) != _major_minor(tf.__version__):
        raise ImportError(
            f"tf_wta was built against TensorFlow {_build_info.TF_VERSION} but "
            f"TensorFlow {tf.__version__} is running; custom ops have no ABI "
            f"stability across TensorFlow minor versions. Either install "
            f"tensorflow=={'.'.join(_major_minor(_build_info.TF_VERSION))}.*, or "
            f"rebuild tf_wta against this TensorFlow: "
            f"pip install --force-reinstall --no-cache-dir --no-binary tf_wta tf_wta "
            f"(from a source checkout: pip install --force-reinstall .).")


def load_ops():
    """Loads the tf_wta op library (once) and returns its op module.

    Call it before loading a SavedModel that uses tf_wta ops in a process
    that has not imported the layers that created it; `import tf_wta` does it
    already.

    Returns:
      The Python module of generated op wrappers (`wta_hash`, ...).
    Raises:
      ImportError: the library is missing or was built for another TensorFlow.
    """
    global _library
    with _lock:
        if _library is None:
            _check_tensorflow_version()
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY_FILE)
            _library = tf.load_op_library(path)
            _register_gradients()
    return _library


def _register_gradients():
    # Integer-valued hashes: no gradient flows through them, and asking for
    # one gives None rather than an error.
    tf.no_gradient("WtaHash")
    tf.no_gradient("WtaDensifiedHash")
    tf.no_gradient("WtaBuckets")
    tf.no_gradient("WtaHashedMatmulGrad")
    tf.RegisterGradient("WtaHashedMatmul")(_hashed_matmul_grad)
    # The index ops return integer ids: nothing to differentiate.
    tf.no_gradient("WtaBuildIndex")
    tf.no_gradient("WtaQueryIndex")
    tf.no_gradient("WtaQueryIndexPooled")
    # In-place variable updates: no outputs to differentiate.
    tf.no_gradient("WtaSparseApplySgd")
    tf.no_gradient("WtaSparseApplyAdam")


def _hashed_matmul_grad(op, grad):
    """Dense gradient for x; one IndexedSlices row per distinct unit for the
    weights and the bias (duplicate selections summed in the op, so an
    optimizer updates each touched row once); None for the indices."""
    x, weights, indices, bias = op.inputs
    grad_x, units, weight_rows, bias_rows = _library.wta_hashed_matmul_grad(
        x, weights, indices, grad)
    return [grad_x,
            tf.IndexedSlices(weight_rows, units, tf.shape(weights)),
            None,
            tf.IndexedSlices(bias_rows, units, tf.shape(bias))]
