"""Every public symbol of tf_wta, and every public method of its classes,
has a docstring; those that take or return tensors state shapes and dtypes."""
import inspect
import re

import pytest

import tf_wta

# Public callables that neither take nor return tensors.
NO_TENSORS = {"build_info", "load_ops", "num_buckets", "export_top_k", "fit_with_kernel_rescaling",
              "rescale_kernels", "RescaledTraining", "CandidateQuality.measure", "HashIndex.radix",
              "HashIndex.resolve_codes_per_table", "HashIndex.num_buckets",
              "HashIndex.num_hashes", "HashIndex.build", "HashIndex.rebuild",
              "HashIndex.count_training_step", "HashIndex.ensure_current",
              "RescaledTraining.history", "CandidateQuality.on_train_batch_end",
              "CandidateQuality.on_epoch_end", "WTAModel.compile", "WTAModel.compile_from_config",
              "WTASequential.compile", "WTASequential.compile_from_config",
              "xml_repository", "xml_repository.read_header", "is_chief"}
# Keras' hooks that take no tensors, or shapes only.
CONFIG_METHODS = ("get_config", "from_config")
SHAPE_METHODS = ("build", "compute_output_shape")
SHAPE = re.compile(r"\[[\w ,.'+*/-]*\]|\(N, D\)")
DTYPE = re.compile(r"\b(float|int|bool|float16|float32|float64|bfloat16|int32|int64)\b")


def own_public_members(cls):
    """(name, function) of the public methods and properties that tf_wta's
    classes in `cls`'s MRO define (Keras' own inherited ones excluded)."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("tf_wta"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if isinstance(value, property):
                value = value.fget
            value = getattr(value, "__func__", value)
            if inspect.isfunction(value):
                seen.add(name)
                yield name, value


def public_api():
    """(qualified name, object) of every symbol in `tf_wta.__all__`, the
    public methods of its classes and the public functions of its modules."""
    for name in tf_wta.__all__:
        obj = getattr(tf_wta, name)
        yield name, obj
        if inspect.isclass(obj):
            for member, function in own_public_members(obj):
                yield f"{name}.{member}", function
        elif inspect.ismodule(obj):
            for member, function in inspect.getmembers(obj, inspect.isfunction):
                if not member.startswith("_") and function.__module__ == obj.__name__:
                    yield f"{name}.{member}", function


API = dict(public_api())


def test_the_api_listing_sees_methods_of_mixins_and_modules():
    assert {"WTADense.top_k", "WTADense.call", "LazyAdam.update_step", "PrecisionAtK.update_state",
            "xml_repository.read_header"} <= set(API)


@pytest.mark.parametrize("name", sorted(API))
def test_has_a_docstring(name):
    assert (API[name].__doc__ or "").strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", sorted(
    name for name in set(API) - NO_TENSORS if not name.endswith(CONFIG_METHODS)))
def test_states_shapes_and_dtypes(name):
    doc = API[name].__doc__ or ""
    assert SHAPE.search(doc), f"{name}'s docstring states no shape: {doc!r}"
    if not name.endswith(SHAPE_METHODS):
        assert DTYPE.search(doc), f"{name}'s docstring states no dtype: {doc!r}"
