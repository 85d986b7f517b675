"""Speaker embeddings grouped into speakers without knowing how many there are: agglomerative
clustering, average linkage on cosine distance, cut at a distance threshold (ADR 0037). Only
full-length windows are clustered (shorter ones are noisy and made spurious speakers); tiny
clusters (windows across a change of speaker, a cough) are not speakers of their own. Every
window then takes the nearest speaker's centroid."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cluster_speakers", "in_context"]

Embeddings = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


def cluster_speakers(
    embeddings: Embeddings,
    anchors: npt.NDArray[np.bool_],
    *,
    threshold: float,
    min_size: int,
    max_clustered: int,
) -> Labels:
    """One label per embedding (rows L2-normed). The ``anchors`` (all rows when none is one)
    are clustered: two groups whose mean pairwise cosine distance is below ``threshold`` are
    one speaker, and a cluster of fewer than ``min_size`` anchors is not a speaker of its own
    (the largest cluster always is). Past ``max_clustered`` anchors (pairwise distances grow
    with the square) an even sample of them is clustered, sizes counted in proportion. Every
    row then takes the speaker whose centroid is nearest."""
    if len(embeddings) == 0:
        return np.zeros(0, dtype=np.int64)
    chosen = np.flatnonzero(anchors) if anchors.any() else np.arange(len(embeddings))
    scale = 1.0
    if chosen.size > max_clustered:
        scale = chosen.size / max_clustered
        chosen = chosen[np.linspace(0, chosen.size - 1, max_clustered).round().astype(np.int64)]
    sample = embeddings[chosen]
    if chosen.size < 2:
        found = np.zeros(chosen.size, dtype=np.int64)
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        tree = linkage(sample.astype(np.float64), method="average", metric="cosine")
        found = fcluster(tree, t=threshold, criterion="distance").astype(np.int64) - 1
    sizes = np.bincount(found) * scale
    kept = sizes >= min_size
    kept[np.argmax(sizes)] = True
    centroids = _centroids(sample, found)[kept]
    labels: Labels = np.argmax(embeddings @ centroids.T, axis=1).astype(np.int64)
    return labels


def in_context(embeddings: Embeddings, groups: npt.NDArray[np.int64], reach: int) -> Embeddings:
    """Each embedding averaged with up to ``reach`` neighbours either side in the same group
    (speech region), L2-normed again: what one sentence says weighs less than who says it."""
    if reach <= 0 or len(embeddings) == 0:
        return embeddings
    sums = np.concatenate([np.zeros((1, embeddings.shape[1])), np.cumsum(embeddings, axis=0)])
    index = np.arange(len(embeddings))
    # The first and one-past-last index of each row's group.
    cuts = np.flatnonzero(np.diff(groups)) + 1
    firsts = np.concatenate(([0], cuts))[np.searchsorted(cuts, index, side="right")]
    lasts = np.concatenate((cuts, [len(groups)]))[np.searchsorted(cuts, index, side="right")]
    low = np.maximum(index - reach, firsts)
    high = np.minimum(index + reach + 1, lasts)
    means = sums[high] - sums[low]
    smoothed: Embeddings = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)
    return smoothed


def _centroids(embeddings: Embeddings, labels: Labels) -> Embeddings:
    sums = np.zeros((int(labels.max()) + 1, embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, embeddings)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centroids: Embeddings = (sums / np.maximum(norms, 1e-9)).astype(np.float32)
    return centroids
