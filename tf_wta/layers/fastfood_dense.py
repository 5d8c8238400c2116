"""FastfoodDense: the (Adaptive) Fastfood transform as a dense layer (Deep
Fried Convnets; Yang et al., ICCV 2015)."""
import math

import keras
import numpy as np
import tensorflow as tf

from tf_wta._arguments import positive_int
from tf_wta.ops.fwht import fwht

_DIAGONALS = "SGB"


def next_power_of_two(n):
    """The smallest power of two >= n (n >= 1)."""
    return 1 << (int(n) - 1).bit_length()


def fastfood_diagonals(dim, num_blocks, sigma, seed):
    """Fastfood's random initial values (Le, Sarlos & Smola 2013) for
    `num_blocks` blocks of width `dim` (a power of two), as numpy arrays:

    - B [num_blocks, dim]: random signs;
    - G [num_blocks, dim]: i.i.d. N(0, 1);
    - perm [num_blocks, dim]: a random permutation per block (Pi);
    - S [num_blocks, dim]: r_i / ||G_k||, r_i chi-distributed with dim
      degrees of freedom (entries about 1); times the constant
      `1 / (sigma sqrt(dim))` (`scaling_factor`) each row of S H G Pi H B
      has the norm distribution of a row of i.i.d. N(0, 1 / sigma^2)
      entries.

    Deterministic for a seed (numpy's PCG64 generator).
    """
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(num_blocks, dim))
    gaussian = rng.standard_normal((num_blocks, dim)).astype(np.float32)
    perm = np.stack([rng.permutation(dim) for _ in range(num_blocks)]).astype(np.int32)
    chi = np.sqrt(rng.chisquare(dim, size=(num_blocks, dim)))
    norms = np.linalg.norm(gaussian.astype(np.float64), axis=1, keepdims=True)
    scaling = (chi / norms).astype(np.float32)
    return signs, gaussian, perm, scaling


def scaling_factor(dim, sigma):
    """The constant factor of Fastfood's S, 1 / (sigma sqrt(dim)): kept out of
    the trained variable so that S's entries are about 1 and an optimizer's
    step (Adam moves an entry by about its learning rate) is relative to
    them; with the factor inside, S's entries start at about 1/dim for
    sigma = sqrt(dim), the size of a typical learning rate, and Adam grew
    them 3-10x in a few epochs (docs/benchmarks.md, FastfoodDense)."""
    return 1.0 / (sigma * math.sqrt(dim))


@keras.saving.register_keras_serializable(package="tf_wta")
class FastfoodDense(keras.layers.Layer):
    """A dense layer whose kernel is a stack of (Adaptive) Fastfood
    transforms, `V = [V_1; V_2; ...]`, `V_k = S_k H G_k Pi_k H B_k`.

    The input [..., input_dim] is zero-padded to d, the next power of two;
    each block maps it to d outputs: `B_k` (diagonal), `H` (the Walsh-Hadamard
    transform, `tf_wta.fwht`), `Pi_k` (a fixed random permutation), `G_k`
    (diagonal), `H` again and `S_k` (diagonal). `ceil(units / d)` blocks are
    stacked and the first `units` outputs kept, a bias added and `activation`
    applied. Initialised as Fastfood (Le et al. 2013), so that V at
    initialisation behaves like a dense matrix of i.i.d. N(0, 1/sigma^2)
    entries (with the default sigma = sqrt(d), variance 1/d: LeCun normal).

    Variants:
    - `learn_diagonals="SGB"` (default, True): Adaptive Fastfood, the paper's
      layer: S, G and B are trained end to end. `learn_diagonals=False`
      (or ""): the non-adaptive Fastfood of Le et al., every diagonal fixed
      at its random value (only the bias trains). Any subset, e.g. "S",
      trains those diagonals only.
    - `activation`: Deep Fried Convnets put a ReLU after each Fastfood
      layer but the last (use `activation="relu"`) and feed the last into a
      softmax.
    - `fourier_features=True`: Fastfood's random kitchen sinks,
      `sqrt(2 / units) * cos(V x + u)` with fixed phases u ~ U[0, 2 pi): an
      approximation of the Gaussian RBF kernel of bandwidth `sigma`
      (`<phi(x), phi(y)> ~ exp(-|x - y|^2 / (2 sigma^2))`); `activation`
      must then be None.

    Cost, with n = units, b = ceil(n / d) blocks:
    - parameters: 2 b d (G, B) + n (S; the rows past n are not stored) +
      n (bias); compared with input_dim * n + n for Dense. Only those in
      `learn_diagonals` (and the bias) are trainable; Pi is stored as
      b d non-trainable int32 indices.
    - per example: 2 b d + n multiplications (B, G, S) and 2 b d log2 d
      additions (the two transforms), plus n for the bias: O(n log d)
      instead of Dense's input_dim * n multiply-adds.

    Args:
      units: int n >= 1, the number of outputs.
      activation: Keras activation of the outputs (default None).
      use_bias: bool (default True).
      learn_diagonals: True (= "SGB"), False (= "") or a string of the
        letters S, G, B: the diagonals trained.
      fourier_features: bool (default False), see above.
      sigma: float > 0, the scale of V at initialisation (entries of
        standard deviation 1/sigma), the RBF bandwidth with
        fourier_features; default sqrt(d).
      bias_initializer: Keras initializer of the bias (default zeros).
      seed: int, the seed of every random choice (default: drawn at
        construction and kept in the config).
    """

    def __init__(self, units, activation=None, use_bias=True, learn_diagonals=True,
                 fourier_features=False, sigma=None, bias_initializer="zeros", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units")
        if learn_diagonals is True:
            learn_diagonals = _DIAGONALS
        elif learn_diagonals is False or learn_diagonals is None:
            learn_diagonals = ""
        if not isinstance(learn_diagonals, str) or set(learn_diagonals.upper()) - set(_DIAGONALS):
            raise ValueError(f"learn_diagonals must be True, False or a string of the letters "
                             f"S, G, B, got {learn_diagonals!r}")
        self.learn_diagonals = "".join(c for c in _DIAGONALS if c in learn_diagonals.upper())
        self.fourier_features = bool(fourier_features)
        self.activation = keras.activations.get(activation)
        if self.fourier_features and activation is not None:
            raise ValueError("fourier_features=True applies cos to the outputs; activation "
                             f"must be None, got {activation!r}")
        if sigma is not None and not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        self.sigma = None if sigma is None else float(sigma)
        self.use_bias = bool(use_bias)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        self.seed = positive_int(seed, "seed", minimum=0)
        # XLA cannot compile custom ops; Keras' jit_compile="auto" honours this.
        self.supports_jit = False

    def build(self, input_shape):
        """Creates the diagonals (and the bias) for inputs `[..., D]` with D known."""
        input_dim = input_shape[-1]
        if len(input_shape) < 2 or input_dim is None:
            raise ValueError(f"FastfoodDense expects inputs of shape [..., features] with "
                             f"known features, got {input_shape}")
        if self.compute_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"FastfoodDense computes in float32, float16 or bfloat16, got "
                             f"dtype policy {self.dtype_policy.name}")
        self.input_dim = int(input_dim)
        self.dim = next_power_of_two(self.input_dim)
        self.num_blocks = -(-self.units // self.dim)
        sigma = self.sigma if self.sigma is not None else math.sqrt(self.dim)
        signs, gaussian, perm, scaling = fastfood_diagonals(
            self.dim, self.num_blocks, sigma, self.seed)
        scaling = scaling.reshape(-1)[:self.units]
        self.scaling_factor = scaling_factor(self.dim, sigma)

        def constant(value):
            return lambda shape, dtype=None: tf.constant(value, dtype=dtype)

        self.binary = self.add_weight(name="binary", shape=signs.shape,
                                      initializer=constant(signs),
                                      trainable="B" in self.learn_diagonals)
        self.gaussian = self.add_weight(name="gaussian", shape=gaussian.shape,
                                        initializer=constant(gaussian),
                                        trainable="G" in self.learn_diagonals)
        self.scaling = self.add_weight(name="scaling", shape=scaling.shape,
                                       initializer=constant(scaling),
                                       trainable="S" in self.learn_diagonals)
        # Pi of every block as positions in the flattened [num_blocks * d].
        flat_perm = (perm + self.dim * np.arange(self.num_blocks)[:, None]).reshape(-1)
        self.permutation = self.add_weight(name="permutation", shape=flat_perm.shape,
                                           dtype="int32", initializer=constant(flat_perm),
                                           trainable=False)
        self.phase = None
        if self.fourier_features:
            phase = np.random.default_rng([self.seed, 1]).uniform(
                0, 2 * np.pi, self.units).astype(np.float32)
            self.phase = self.add_weight(name="phase", shape=phase.shape,
                                         initializer=constant(phase), trainable=False)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer)

    def call(self, inputs):
        """float `[..., D]` (cast to the compute dtype) -> `[..., units]` in the
        compute dtype (float32, float16 or bfloat16)."""
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != self.compute_dtype:
            inputs = tf.cast(inputs, self.compute_dtype)
        leading = tf.shape(inputs)[:-1]
        x = tf.reshape(inputs, [-1, self.input_dim])
        if self.dim > self.input_dim:
            x = tf.pad(x, [[0, 0], [0, self.dim - self.input_dim]])
        blocks, d = self.num_blocks, self.dim
        dtype = x.dtype
        # [batch, blocks, d]: B_k x for every block, as rows of the transform.
        x = x[:, None, :] * tf.cast(self.binary, dtype)
        x = tf.reshape(fwht(tf.reshape(x, [-1, d])), [-1, blocks * d])
        x = tf.gather(x, self.permutation, axis=1) * tf.reshape(tf.cast(self.gaussian, dtype),
                                                                [blocks * d])
        x = tf.reshape(fwht(tf.reshape(x, [-1, d])), [-1, blocks * d])
        scaling = tf.cast(self.scaling, tf.float32) * self.scaling_factor
        outputs = x[:, :self.units] * tf.cast(scaling, dtype)
        if self.fourier_features:
            outputs = tf.cos(outputs + tf.cast(self.phase, dtype)) * tf.cast(
                math.sqrt(2.0 / self.units), dtype)
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, dtype)
        outputs = self.activation(outputs)
        return tf.reshape(outputs, tf.concat([leading, [self.units]], axis=0))

    def compute_output_shape(self, input_shape):
        """`[..., D]` -> `[..., units]`."""
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "learn_diagonals": self.learn_diagonals,
            "fourier_features": self.fourier_features,
            "sigma": self.sigma,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        })
        return config
