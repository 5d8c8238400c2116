"""Loads the op library on first use and checks what it was built against.

Nothing is loaded at `import tf_wta`: the pure-Python parts, and serving a
model whose exact path uses stock ops only, work without the library. The
first op call loads it (`load_ops`); so does loading a SavedModel with
tf_wta ops after `tf_wta.load_ops()`. Loading registers ops and kernels with
TensorFlow but creates no tensor and no device.
"""
import ctypes
import os
import threading

import tensorflow as tf

_LIBRARY_FILE = "_tf_wta_ops.so"
_lock = threading.Lock()
_library = None
_build_info = None


def _major_minor(version):
    return tuple(version.split(".")[:2])


def library_path():
    """Path of the op library inside the installed package, or the one the
    environment variable TF_WTA_OPS_LIBRARY names (e.g. the sanitizer build
    of scripts/sanitize.sh)."""
    override = os.environ.get("TF_WTA_OPS_LIBRARY")
    if override:
        return os.path.abspath(override)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY_FILE)


def _read_build_info(path):
    """What cc/build_info.cc compiled into the library, and which versions
    of the CPU hot loops it picked when loaded (cc/kernels/cpu_loops.cc),
    read through ctypes: {"tensorflow": release or "unknown", "graph_def":
    int, "cuda": bool, "cpu_kernels": "avx2" or "portable"}."""
    library = ctypes.CDLL(path)
    info_function, cpu_kernels = library.TfWtaBuildInfo, library.TfWtaCpuKernels
    info_function.restype = cpu_kernels.restype = ctypes.c_char_p
    fields = dict(item.split("=", 1) for item in info_function().decode().split(";"))
    return {"tensorflow": fields["tensorflow"], "graph_def": int(fields["graph_def"]),
            "cuda": fields["cuda"] == "1", "cpu_kernels": cpu_kernels().decode()}


def check_tensorflow_version(info, running=None, running_graph_def=None):
    """Raises ImportError when the library was built against another
    TensorFlow minor release than the running one (custom ops have no ABI
    stability across them). A build that did not record its release
    (Bazel) is compared by its headers' GraphDef version instead."""
    running = running or tf.__version__
    running_graph_def = running_graph_def or tf.version.GRAPH_DEF_VERSION
    built_with = info["tensorflow"]
    if built_with == "unknown":
        if info["graph_def"] == running_graph_def:
            return
        built_with = f"headers of GraphDef version {info['graph_def']}"
        wanted = "the TensorFlow of those headers"
    elif _major_minor(built_with) == _major_minor(running):
        return
    else:
        wanted = f"tensorflow=={'.'.join(_major_minor(built_with))}.*"
    raise ImportError(
        f"tf_wta was built against TensorFlow {built_with} but TensorFlow {running} "
        f"(GraphDef version {running_graph_def}) is running; custom ops have no ABI "
        f"stability across TensorFlow minor versions. Either install {wanted}, or rebuild "
        f"tf_wta against this TensorFlow: pip install --force-reinstall --no-cache-dir "
        f"--no-binary tf_wta tf_wta (from a source checkout: pip install --force-reinstall "
        f"--no-build-isolation .).")


def load_ops():
    """Loads the tf_wta op library (once) and returns its op module.

    Every op wrapper calls it; call it yourself before `tf.saved_model.load`
    of a model whose graph holds tf_wta ops (a hidden WTADense, `top_k`).

    Returns:
      The Python module of generated op wrappers (`wta_hash`, ...).
    Raises:
      ImportError: the library is missing, does not load into this
        TensorFlow, or was built for another TensorFlow.
    """
    global _library, _build_info
    with _lock:
        if _library is None:
            path = library_path()
            if not os.path.exists(path):
                raise ImportError(
                    f"tf_wta's op library {path} has not been built. Install the package with "
                    "`pip install --no-build-isolation .`, or build it in place with "
                    "`python setup.py build_ext --inplace`.")
            try:
                library = tf.load_op_library(path)
            except tf.errors.NotFoundError as error:
                raise ImportError(
                    f"tf_wta's op library does not load into TensorFlow {tf.__version__} "
                    f"({error}); it was most likely built against another TensorFlow: "
                    f"rebuild it with `pip install --force-reinstall --no-build-isolation .`"
                ) from error
            info = _read_build_info(path)
            check_tensorflow_version(info)
            _library, _build_info = library, info
    return _library


def build_info():
    """What the loaded library was built against: {"tensorflow": release
    (str), "graph_def": the headers' GraphDef version (int), "cuda": whether
    it has CUDA kernels (bool), "cpu_kernels": the versions of the CPU hot
    loops this process runs, "avx2" (AVX2 + FMA) or "portable" (baseline
    x86-64, or any other CPU; forced by TF_WTA_PORTABLE_KERNELS=1 at load)}."""
    load_ops()
    return dict(_build_info)
