"""Deformable backprojection: particles of two states, each carried into
the closed state through its displacement, add into one map of it that is
closer to the truth than the homogeneous map of all particles."""
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.deformable import (Deformer, RealSpaceBackprojector,
                                              parse_target)
from cryostar_boltz.engine.particles import load_particles
from cryostar_boltz.engine.pseudoatoms import atom_sigma
from cryostar_boltz.engine.reconstruct import reconstruct
from cryostar_boltz.engine.simulate import (ensemble_from_structures,
                                            simulate_dataset)

BOX, APIX, N = 32, 3.2, 300


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_corrected_map_of_two_states_beats_the_homogeneous_map(adk_dir, tmp_path):
    paths = [adk_dir / "adk_closed.pdb", adk_dir / "adk_open.pdb"]
    data = simulate_dataset(paths, tmp_path, N, BOX, APIX, snr=None, seed=2)
    truth = np.load(data.truth)
    state, coords = truth["state"], truth["state_coords"]      # (N,), (2, R, 3)
    assert 0 < state.mean() < 1
    ens = ensemble_from_structures(paths)
    closed = imaging.render_volume(
        torch.as_tensor(ens.atom_coords[0] - truth["centre"]),
        torch.as_tensor(ens.atomic_numbers, dtype=torch.float64), BOX, APIX,
        atom_sigma(APIX)).numpy()
    p = load_particles(data.star)
    deformer = Deformer(coords[0], 6.0, BOX, APIX)
    corrected, plain = RealSpaceBackprojector(BOX, APIX), RealSpaceBackprojector(BOX, APIX)
    for start in range(0, N, 50):
        idx = np.arange(start, min(N, start + 50))
        args = (p.images[idx], p.rotations[idx], p.shifts[idx], p.ctf[idx])
        moved = deformer.displacements(torch.as_tensor(coords[state[idx]]))
        corrected.add(*args, moved, deformer.support)
        plain.add(*args)
    corrected, plain = corrected.volume(), plain.volume()
    homogeneous = reconstruct(p.images, p.rotations, p.shifts, p.ctf, APIX)
    only_closed = reconstruct(p.images, p.rotations, p.shifts, p.ctf, APIX,
                              indices=np.flatnonzero(state == 0))
    # without displacements the real-space path is the Fourier one
    assert _corr(plain, homogeneous) > 0.95
    c_corrected, c_plain = _corr(corrected, closed), _corr(homogeneous, closed)
    assert c_corrected > c_plain + 0.02, (c_corrected, c_plain)
    assert c_corrected > 0.9
    # the map of the closed particles alone is still closer (the Gaussian
    # interpolation and the projections' overlap blur the moved domain)
    assert _corr(only_closed, closed) > c_corrected


def test_deformer_moves_voxels_with_their_residues():
    target = np.array([[0.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    deformer = Deformer(target, 4.0, 32, 2.0)
    # residue 0 moves 3 A along y, residue 1 stays
    moved = deformer.displacements(torch.as_tensor(target + [[0, 3, 0], [0, 0, 0]])[None])
    voxels = deformer.support
    D = 32
    near0 = int(((0 + D // 2) * D + D // 2) * D + D // 2)            # voxel at residue 0
    near1 = int(((0 + D // 2) * D + D // 2) * D + D // 2 + 15)       # at residue 1
    u = {int(v): moved[0, i].numpy() for i, v in enumerate(voxels)}
    assert u[near0][1] == pytest.approx(3.0, abs=0.15) and abs(u[near1][1]) < 0.1


@pytest.mark.parametrize("tokens, message", [
    (["open"], "--deform-to open: expected"), (["basin", "x"], "expected"),
    (["z"], "expected"), (["z", "none.npy"], "none.npy: file not found")])
def test_bad_targets_are_refused(tokens, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        parse_target(tokens)
    assert parse_target(["reference"]) == ("reference", None)
    assert parse_target(["basin", "2"]) == ("basin", 2)
