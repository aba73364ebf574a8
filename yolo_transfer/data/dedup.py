"""Near-duplicate images from 64-bit perceptual hashes: pairs within a Hamming distance, and groups of them.

Hashes are compared as a uint64 matrix block by block (XOR + popcount in numpy), so 30,000 images are about
4.5e8 comparisons done in vectorised chunks rather than a Python double loop. The default threshold (6 of 64 bits)
finds every near-duplicate pair listed for the cavity dataset with no false positives on it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_MAX_DISTANCE = 6


def as_hash_array(hashes: Sequence[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hashes, indices into the input) for the entries that have a hash."""
    idx = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    arr = np.array([hashes[i] for i in idx], dtype=np.uint64)
    return arr, idx


def hamming_pairs(a: np.ndarray, b: np.ndarray | None = None, max_distance: int = DEFAULT_MAX_DISTANCE,
                  block: int = 512) -> np.ndarray:
    """All (i, j, distance) with Hamming(a[i], b[j]) <= max_distance, as an (N, 3) int64 array.

    With `b` None, pairs within `a` (i < j only).
    """
    a = np.asarray(a, np.uint64)
    within = b is None
    b = a if within else np.asarray(b, np.uint64)
    out = []
    for start in range(0, len(a), block):
        chunk = a[start:start + block]
        dist = np.bitwise_count(chunk[:, None] ^ b[None, :])
        ii, jj = np.nonzero(dist <= max_distance)
        ii = ii + start
        if within:
            keep = jj > ii
            ii, jj = ii[keep], jj[keep]
        out.append(np.stack([ii, jj, dist[ii - start, jj].astype(np.int64)], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 3), np.int64)


def groups_from_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    """A group id per item (union-find over the pairs); items in no pair get their own group."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(n)])
    _, group = np.unique(roots, return_inverse=True)
    return group


def near_duplicate_groups(hashes: Sequence[int | None], max_distance: int = DEFAULT_MAX_DISTANCE) -> np.ndarray:
    """Group id per image; images without a hash stay alone."""
    arr, idx = as_hash_array(hashes)
    pairs = hamming_pairs(arr, max_distance=max_distance)
    if len(pairs):
        pairs = np.stack([idx[pairs[:, 0]], idx[pairs[:, 1]], pairs[:, 2]], axis=1)
    return groups_from_pairs(len(hashes), pairs)
