"""Offline demo: WTA codes collide more often for vectors with larger dot products.

    python examples/hash_demo.py [--dim 1280 --num-hashes 1024 --window-size 8]

Hashes random unit vectors and noisy copies of them at several similarities,
then prints how often codes and bucket keys (codes packed per table) match.
This is the property WTADense relies on: a weight row that collides with the
input in many tables is likely to have a large dot product with it. Needs no
network and no data.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_wta  # noqa: E402


def noisy_copies(base, cosine, rng):
    """Unit vectors whose cosine with each row of `base` is exactly `cosine`."""
    noise = rng.standard_normal(base.shape)
    noise -= (noise * base).sum(axis=1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return cosine * base + np.sqrt(1.0 - cosine**2) * noise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--num-vectors", type=int, default=2000)
    parser.add_argument("--num-hashes", type=int, default=1024)
    parser.add_argument("--window-size", type=int, default=8)
    parser.add_argument("--codes-per-table", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    base = rng.standard_normal((args.num_vectors, args.dim))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    windows = tf_wta.wta_windows(args.dim, args.num_hashes, args.window_size, args.seed)

    def buckets(vectors):
        codes = tf_wta.wta_hash(tf.constant(vectors, tf.float32), windows)
        return codes, tf_wta.wta_buckets(codes, args.window_size, args.codes_per_table)

    start = time.perf_counter()
    base_codes, base_buckets = buckets(base)
    elapsed = time.perf_counter() - start
    print(f"hashed {args.num_vectors} vectors of {args.dim} floats into {args.num_hashes} "
          f"codes (K={args.window_size}) in {elapsed * 1e3:.1f} ms on the CPU")
    print(f"{'cosine':>8}  {'codes equal':>11}  {'tables colliding':>16}  (random pair: "
          f"{1 / args.window_size:.3f} and {1 / args.window_size ** args.codes_per_table:.5f})")
    for cosine in (0.99, 0.9, 0.7, 0.5, 0.3, 0.0):
        codes, table_buckets = buckets(noisy_copies(base, cosine, rng))
        code_match = np.mean(codes.numpy() == base_codes.numpy())
        table_match = np.mean(table_buckets.numpy() == base_buckets.numpy())
        print(f"{cosine:8.2f}  {code_match:11.3f}  {table_match:16.4f}")


if __name__ == "__main__":
    main()
