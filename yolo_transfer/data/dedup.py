"""Near-duplicate images, found in two steps so that a flag means a copy, not a look-alike.

1. **Propose** (all pairs, cheap): 64-bit perceptual hashes within `DEFAULT_MAX_DISTANCE` (12) bits, as a uint64
   XOR + popcount matrix block by block: 30,000 images in seconds, a 256-row block near 60 MB (bench/data_check.py).
2. **Confirm** (candidates only): the 64x64 grayscale thumbnails' *detail* (difference of Gaussians, sigma 1 and 3
   px: texture and edges, not the light/dark layout) as a normalised correlation, after aligning them (scale
   0.97/1/1.03 about the centre, then phase correlation's sub-pixel shift, at most 2 px) and again without the pixels
   saturated in either (a brightened copy clips its highlights). A pair at `MIN_SIMILARITY` is a near-duplicate.

Why two steps: images mostly dark around one centred bright object (MRI, CT, X-ray, cells on black) share a hash
across patients; a public brain-MRI set got 158 false cross-split flags from the hash alone. Measured
(bench/leakage.py): look-alikes scored at most 0.882, edited copies (resized 85%, brightened x1.3, cropped 3%, JPEG
q70, all at once) at least 0.89, real near-duplicates at least 0.95; 0.90 sits above every look-alike seen and misses
3 of 1,240 planted copies. Edited copies drift up to 14 hash bits, hence a candidate radius of 12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MAX_DISTANCE = 12  # hash bits (of 64) within which a pair is a *candidate*
MIN_SIMILARITY = 0.90  # confirmed detail similarity: look-alikes measured <= 0.882, copies >= 0.89 (1237/1240 >= 0.9)
_PREFILTER = 0.5  # unaligned similarity below this cannot be a copy (copies measured >= 0.85 before aligning)
_SCALES = (0.97, 1.0, 1.03)
_MAX_SHIFT = 2.0
_SATURATED = 240


def as_hash_array(hashes: Sequence[int | None]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hashes, indices into the input) for the entries that have a hash."""
    idx = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    return np.array([hashes[i] for i in idx], dtype=np.uint64), idx


def hamming_pairs(a: np.ndarray, b: np.ndarray | None = None, max_distance: int = DEFAULT_MAX_DISTANCE,
                  block: int = 256) -> np.ndarray:
    """All (i, j, distance) with Hamming(a[i], b[j]) <= max_distance, as an (N, 3) int64 array; with `b` None,
    pairs within `a` (i < j only)."""
    a = np.asarray(a, np.uint64)
    within = b is None
    b = a if within else np.asarray(b, np.uint64)
    out = []
    for start in range(0, len(a), block):
        chunk = a[start:start + block]
        offset = start if within else 0  # within one set only the upper triangle is needed
        dist = np.bitwise_count(chunk[:, None] ^ b[None, offset:])
        ii, jj = np.nonzero(dist <= max_distance)
        d = dist[ii, jj].astype(np.int64)
        ii, jj = ii + start, jj + offset
        if within:
            keep = jj > ii
            ii, jj, d = ii[keep], jj[keep], d[keep]
        out.append(np.stack([ii, jj, d], axis=1))
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


def _detail(thumb: np.ndarray) -> np.ndarray:
    t = np.asarray(thumb, np.float32)
    return cv2.GaussianBlur(t, (0, 0), 1.0) - cv2.GaussianBlur(t, (0, 0), 3.0)


def _centre(n: int) -> slice:
    m = max(1, n // 10)  # the border is where alignment and blurring are least reliable
    return slice(m, n - m)


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean()
    return v / (np.linalg.norm(v) + 1e-6)


def detail_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two grayscale thumbnails are in detail once aligned: 1 for the same picture, < 0.90 for different
    ones (see the module docstring). Exact copies (mean abs. difference <= 1 grey level) are 1 even when flat."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if np.abs(a - b).mean() <= 1.0:
        return 1.0
    n = a.shape[0]
    c, ctr = _centre(n), ((n - 1) / 2, (n - 1) / 2)
    da = _detail(a)
    best = -1.0
    for s in _SCALES:
        bw = cv2.warpAffine(b, cv2.getRotationMatrix2D(ctr, 0, s), (n, n), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
        db = _detail(bw)
        (sx, sy), _ = cv2.phaseCorrelate(da, db)
        if max(abs(sx), abs(sy)) > _MAX_SHIFT:
            sx = sy = 0.0
        shift = np.float32([[1, 0, -sx], [0, 1, -sy]])
        db = cv2.warpAffine(db, shift, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        bw = cv2.warpAffine(bw, shift, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x, y = da[c, c], db[c, c]
        best = max(best, float((_unit(x.ravel()) * _unit(y.ravel())).sum()))
        # a brightened copy clips its highlights: compare again without the pixels saturated in either image
        sat = cv2.dilate(((a >= _SATURATED) | (bw >= _SATURATED)).astype(np.uint8), np.ones((5, 5), np.uint8))
        keep = ~sat[c, c].astype(bool)
        if keep.size // 8 <= keep.sum() < keep.size:
            best = max(best, float((_unit(x[keep]) * _unit(y[keep])).sum()))
    return best


@dataclass
class NearDuplicatePairs:
    """Candidates proposed by the hash and those confirmed by detail similarity."""

    pairs: np.ndarray  # (N, 3) int64: i, j, hash distance of the confirmed pairs (indices into the inputs)
    similarity: np.ndarray  # (N,) float64 detail similarity of each confirmed pair
    candidates: int  # how many pairs the hash proposed


def find_near_duplicates(hashes_a: Sequence[int | None], thumbs_a: Sequence[np.ndarray | None],
                         hashes_b: Sequence[int | None] | None = None,
                         thumbs_b: Sequence[np.ndarray | None] | None = None,
                         max_distance: int = DEFAULT_MAX_DISTANCE,
                         min_similarity: float = MIN_SIMILARITY) -> NearDuplicatePairs:
    """Near-duplicate pairs between two image sets (or within one, i < j), proposed by hash, confirmed by detail."""
    within = hashes_b is None
    hashes_b = hashes_a if within else hashes_b
    thumbs_b = thumbs_a if within else thumbs_b
    ha, ia = as_hash_array([h if t is not None else None for h, t in zip(hashes_a, thumbs_a)])
    hb, ib = (ha, ia) if within else as_hash_array([h if t is not None else None for h, t in zip(hashes_b, thumbs_b)])
    cand = hamming_pairs(ha, None if within else hb, max_distance=max_distance)
    if not len(cand):
        return NearDuplicatePairs(np.zeros((0, 3), np.int64), np.zeros(0), 0)
    cand = np.stack([ia[cand[:, 0]], ib[cand[:, 1]], cand[:, 2]], axis=1)
    # Cheap unaligned detail correlation for every candidate (vectorised), the aligned one only where it can matter.
    c = _centre(np.asarray(thumbs_a[int(cand[0, 0])]).shape[0])
    va = {int(i): _unit(_detail(thumbs_a[int(i)])[c, c].ravel())
          for i in np.unique(cand[:, :2] if within else cand[:, 0])}
    vb = va if within else {int(j): _unit(_detail(thumbs_b[int(j)])[c, c].ravel()) for j in np.unique(cand[:, 1])}
    sims = np.empty(len(cand))
    for k, (i, j, _) in enumerate(cand):
        sims[k] = float(va[int(i)] @ vb[int(j)])
        if sims[k] < _PREFILTER and np.abs(thumbs_a[int(i)].astype(np.float32) - thumbs_b[int(j)]).mean() <= 1.0:
            sims[k] = 1.0  # the same picture without detail (flat, blank): identical, hence a duplicate
    for k in np.flatnonzero(sims >= _PREFILTER):
        sims[k] = detail_similarity(thumbs_a[int(cand[k, 0])], thumbs_b[int(cand[k, 1])])
    ok = sims >= min_similarity
    return NearDuplicatePairs(cand[ok], sims[ok], len(cand))


def near_duplicate_groups(hashes: Sequence[int | None], thumbs: Sequence[np.ndarray | None] | None = None,
                          max_distance: int = DEFAULT_MAX_DISTANCE,
                          min_similarity: float = MIN_SIMILARITY) -> np.ndarray:
    """Group id per image from *confirmed* near-duplicate pairs (hash-only when no thumbnails are given)."""
    if thumbs is None:
        arr, idx = as_hash_array(hashes)
        pairs = hamming_pairs(arr, max_distance=max_distance)
        if len(pairs):
            pairs = np.stack([idx[pairs[:, 0]], idx[pairs[:, 1]], pairs[:, 2]], axis=1)
    else:
        pairs = find_near_duplicates(hashes, thumbs, max_distance=max_distance, min_similarity=min_similarity).pairs
    return groups_from_pairs(len(hashes), pairs)
