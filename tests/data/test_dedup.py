"""Near-duplicate search: the vectorised Hamming search must equal the brute-force definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from yolo_transfer.data.dedup import groups_from_pairs, hamming_pairs, near_duplicate_groups


def _random_hashes(rng, n: int, near: int) -> np.ndarray:
    base = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    for i in range(near):  # plant near copies: flip a few bits of earlier hashes
        src = rng.integers(0, n - near)
        flips = rng.choice(64, size=rng.integers(0, 9), replace=False)
        base[n - near + i] = base[src] ^ np.uint64(sum(1 << int(b) for b in flips))
    return base


@pytest.mark.parametrize("block", [1, 7, 512])
def test_pairs_within_one_set_match_brute_force(block):
    rng = np.random.default_rng(0)
    h = _random_hashes(rng, 300, 40)
    got = {tuple(r) for r in hamming_pairs(h, max_distance=6, block=block).tolist()}
    want = {(i, j, bin(int(h[i]) ^ int(h[j])).count("1")) for i, j in itertools.combinations(range(len(h)), 2)}
    want = {p for p in want if p[2] <= 6}
    assert got == want and len(want) >= 20


def test_pairs_between_two_sets_match_brute_force():
    rng = np.random.default_rng(1)
    h = _random_hashes(rng, 200, 60)
    a, b = h[:150], h[150:]
    got = {tuple(r) for r in hamming_pairs(a, b, max_distance=4).tolist()}
    want = {(i, j, bin(int(a[i]) ^ int(b[j])).count("1")) for i in range(len(a)) for j in range(len(b))}
    assert got == {p for p in want if p[2] <= 4}


def test_groups_are_transitive_and_skip_missing_hashes():
    group = groups_from_pairs(5, np.array([[0, 1, 0], [1, 3, 2]]))
    assert group[0] == group[1] == group[3] and len({group[0], group[2], group[4]}) == 3
    g = near_duplicate_groups([0b1111, None, 0b1110, 2**40 - 1], max_distance=1)
    assert g[0] == g[2] and len(set(g.tolist())) == 3
