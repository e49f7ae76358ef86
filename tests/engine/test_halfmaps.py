"""Gold-standard half-maps: half-sets from the file or a seeded split, two
independent reconstructions of known simulated particles, their FSC."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.fsc import fsc, resolution
from cryostar_boltz.engine.halfmaps import (fourier_resize, half_sets,
                                            reconstruct_halves, split_subset)
from cryostar_boltz.engine.particles import load_particles
from cryostar_boltz.engine.pseudoatoms import atom_sigma
from cryostar_boltz.engine.simulate import (ensemble_from_structures,
                                            simulate_dataset)

BOX, APIX, N = 32, 3.2, 300


@pytest.fixture(scope="module")
def closed(adk_dir, tmp_path_factory):
    """Noisy particles of the closed state and its true map."""
    structure = adk_dir / "adk_closed.pdb"
    data = simulate_dataset([structure], tmp_path_factory.mktemp("halves"), N, BOX,
                            APIX, snr=2.0, seed=4)
    centre = np.load(data.truth)["centre"]
    ens = ensemble_from_structures([structure])
    truth = imaging.render_volume(
        torch.as_tensor(ens.atom_coords[0] - centre),
        torch.as_tensor(ens.atomic_numbers, dtype=torch.float64), BOX, APIX,
        atom_sigma(APIX)).numpy()
    return load_particles(data.star), truth


def test_half_maps_of_known_particles_match_the_true_map(closed):
    particles, truth = closed
    halves, source = half_sets(particles)
    assert source == "rlnRandomSubset"
    assert np.array_equal(halves, np.arange(N) % 2 + 1)   # as the star says
    maps = reconstruct_halves(particles.images, particles.rotations, particles.shifts,
                              particles.ctf, APIX, np.arange(N), halves, batch=64)
    assert maps.counts == (N // 2, N // 2)
    for volume in (maps.half1, maps.half2, maps.full):
        assert volume.shape == (BOX,) * 3
    # the map of all particles against the truth: high at low resolution
    frequency, curve = fsc(maps.full, truth, APIX)
    assert curve[1:5].min() > 0.9                  # 102 A to 26 A
    assert resolution(frequency, curve, 0.5) < 12.0
    # both halves are independent estimates of one map: their FSC is high at
    # low resolution and the full map beats each half against the truth
    assert maps.curve[1:5].min() > 0.9
    assert maps.resolution(0.143) <= maps.resolution(0.5)
    half_truth = fsc(maps.half1, truth, APIX)[1]
    assert curve[1:8].mean() > half_truth[1:8].mean()
    text = maps.table().splitlines()
    assert text[0] == "resolution_A,fsc" and len(text) == BOX // 2 + 1
    assert float(text[1].split(",")[0]) == pytest.approx(BOX * APIX)


def test_without_half_sets_in_the_file_a_seeded_split(closed):
    particles, _ = closed
    bare = replace(particles, table={k: v for k, v in particles.table.items()
                                     if k != "rlnRandomSubset"})
    halves, source = half_sets(bare, seed=7)
    assert source == "seeded split"
    assert np.bincount(halves)[1:].tolist() == [N // 2, N // 2]
    assert np.array_equal(halves, half_sets(bare, seed=7)[0])      # seeded
    assert not np.array_equal(halves, half_sets(bare, seed=8)[0])
    with pytest.raises(ValueError, match="0 in half-set 2"):
        split_subset(np.flatnonzero(halves == 1), halves)


def test_fourier_resize_keeps_the_map_and_its_centre():
    x = np.zeros((32, 32, 32), np.float32)
    x[16, 16, 16] = 1.0
    g = np.exp(-((np.indices(x.shape) - 16) ** 2).sum(0) / (2 * 3.0 ** 2))
    small = fourier_resize(g, 16)
    assert small.shape == (16,) * 3
    assert np.unravel_index(small.argmax(), small.shape) == (8, 8, 8)
    assert small.sum() * 8 == pytest.approx(g.sum(), rel=1e-3)
    assert np.allclose(fourier_resize(small, 32)[::2, ::2, ::2], g[::2, ::2, ::2],
                       atol=0.02)
