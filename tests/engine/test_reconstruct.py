"""Homogeneous reconstruction by Fourier back-projection with CTF."""
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.particles import load_particles
from cryostar_boltz.engine.pseudoatoms import atom_sigma
from cryostar_boltz.engine.reconstruct import FourierBackprojector, reconstruct
from cryostar_boltz.engine.simulate import (ensemble_from_structures,
                                            simulate_dataset)

BOX, APIX = 32, 3.2


def test_noiseless_particles_give_the_true_map(adk_dir, tmp_path):
    structure = adk_dir / "adk_closed.pdb"
    data = simulate_dataset([structure], tmp_path, 300, BOX, APIX, snr=None, seed=1)
    particles = load_particles(data.star)
    centre = np.load(data.truth)["centre"]
    ens = ensemble_from_structures([structure])
    truth = imaging.render_volume(
        torch.as_tensor(ens.atom_coords[0] - centre),
        torch.as_tensor(ens.atomic_numbers, dtype=torch.float64), BOX, APIX,
        atom_sigma(APIX)).numpy()
    volume = reconstruct(particles.images, particles.rotations, particles.shifts,
                         particles.ctf, APIX, batch=128)
    assert volume.shape == (BOX,) * 3 and volume.dtype == np.float32
    assert np.corrcoef(volume.ravel(), truth.ravel())[0, 1] > 0.9
    # the Wiener constant is small: the map keeps the absolute scale
    assert 0.85 < volume.sum() / truth.sum() < 1.1
    # a subset is a valid reconstruction too, and an empty one is refused
    half = reconstruct(particles.images, particles.rotations, particles.shifts,
                       particles.ctf, APIX, indices=np.arange(0, 300, 2))
    assert np.corrcoef(half.ravel(), truth.ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match="no particles"):
        reconstruct(particles.images, particles.rotations, particles.shifts,
                    particles.ctf, APIX, indices=[])


def test_backprojector_refuses_odd_boxes_and_empty_volumes():
    with pytest.raises(ValueError, match="even"):
        FourierBackprojector(31, 1.0)
    with pytest.raises(ValueError, match="no particles"):
        FourierBackprojector(8, 1.0).volume()


def test_half_plane_insertion_equals_the_full_plane():
    """Friedel symmetry: inserting half of each central slice and adding the
    mirror once at the end gives the map of full-slice insertion."""
    rng = np.random.default_rng(0)
    n, D = 12, 16
    images = rng.normal(size=(n, D, D)).astype(np.float32)
    from scipy.spatial.transform import Rotation
    rotations = Rotation.random(n, random_state=1).as_matrix().astype(np.float32)
    shifts = rng.normal(scale=2.0, size=(n, 2)).astype(np.float32)
    ctf = np.tile(np.array([[15000, 14000, 0.3, 300, 2.7, 0.1, 0, 0]], np.float32), (n, 1))
    maps = []
    for half in (False, True):
        bp = FourierBackprojector(D, 2.0, pad=2, half_plane=half)
        bp.add(images, rotations, shifts, ctf)
        maps.append(bp.volume())
    full, half = maps
    assert np.abs(half - full).max() < 1e-4 * np.abs(full).max()
