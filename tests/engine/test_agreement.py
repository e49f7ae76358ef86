"""Matching two latent spaces through the particles: a known rotation,
sign flip and permutation of components and a renaming of clusters are
undone exactly."""
import numpy as np
import pytest

from cryostar_boltz.engine.agreement import (contingency, match_clusters,
                                             match_components, matched_fraction,
                                             path_scores, score_correlation)
from cryostar_boltz.engine.analysis import fit_pca


def _orthogonal(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_a_rotated_latent_space_has_the_same_components():
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(500, 4)) * np.array([5.0, 3.0, 1.5, 0.5])
    z2 = z1 @ _orthogonal(4, rng) + 2.0  # another encoder: rotated and moved
    pcas = [fit_pca(z, 3) for z in (z1, z2)]
    scores = [p.transform(z) for p, z in zip(pcas, (z1, z2))]
    matches = match_components(*scores)
    assert [(m.first, m.second) for m in matches] == [(0, 0), (1, 1), (2, 2)]
    for m in matches:
        assert abs(m.correlation) == pytest.approx(1.0, abs=1e-9)
        # the sign aligns the two halves' scores exactly
        assert np.allclose(scores[0][:, m.first], m.sign * scores[1][:, m.second])


def test_permuted_and_flipped_components_are_undone():
    rng = np.random.default_rng(1)
    scores1 = rng.normal(size=(300, 3))
    perm, signs = np.array([2, 0, 1]), np.array([1, -1, -1])
    scores2 = np.empty_like(scores1)
    scores2[:, perm] = scores1 * signs  # component i of half 1 is perm[i] of half 2
    matches = match_components(scores1, scores2)
    assert [m.second for m in matches] == perm.tolist()
    assert [m.sign for m in matches] == signs.tolist()
    assert [m.correlation for m in matches] == pytest.approx(signs.tolist())


def test_score_correlation_of_a_constant_column_is_zero():
    a = np.stack([np.arange(5.0), np.ones(5)], 1)
    corr = score_correlation(a, a)
    assert corr[0, 0] == pytest.approx(1.0) and corr[1, 1] == 0.0
    with pytest.raises(ValueError, match="same particles"):
        score_correlation(a, a[:3])


def test_renamed_clusters_are_matched_back():
    rng = np.random.default_rng(2)
    labels1 = rng.integers(0, 4, 200)
    rename = np.array([3, 1, 0, 2])
    matches = match_clusters(labels1, rename[labels1], 4, 4)
    assert [m.second for m in matches] == rename.tolist()
    assert all(m.jaccard == 1.0 and m.shared == m.sizes[0] == m.sizes[1]
               for m in matches)
    assert matched_fraction(matches, 200) == 1.0


def test_partly_shared_clusters():
    labels1 = np.array([0, 0, 0, 1, 1, 1])
    labels2 = np.array([1, 1, 0, 0, 0, 0])
    assert contingency(labels1, labels2).tolist() == [[1, 2], [3, 0]]
    matches = match_clusters(labels1, labels2)
    assert [(m.first, m.second, m.shared) for m in matches] == [(0, 1, 2), (1, 0, 3)]
    assert matches[0].jaccard == pytest.approx(2 / 3)
    assert matches[1].jaccard == pytest.approx(3 / 4)
    assert matched_fraction(matches, 6) == pytest.approx(5 / 6)


def test_path_scores_walk_a_flipped_component_from_its_other_end():
    scores = np.linspace(-10, 10, 201)
    forward = path_scores(scores, n_points=5)
    assert forward == pytest.approx([-9, -4.5, 0, 4.5, 9])
    # half 2's component is half 1's negated: its points run from +9 to -9
    assert path_scores(-scores, n_points=5, sign=-1) == pytest.approx(forward[::-1])
