"""The pose, shift and CTF conventions, checked on real TRPV1 particles.

The TRPV1 map is projected with each particle's pose, multiplied by its CTF
and compared with the real images, both low-passed at 15 Angstrom. Only the
RELION convention scores well on every particle; each wrong choice (shift
sign, transposed rotation, CTF sign) scores clearly lower.
"""
import mrcfile
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.particles import load_particles

LOWPASS_A = 15.0


def correlations(model, observed):
    """Pearson correlation per image pair, (B,)."""
    model = model - model.mean((-2, -1), keepdim=True)
    observed = observed - observed.mean((-2, -1), keepdim=True)
    return ((model * observed).sum((-2, -1))
            / (model.norm(dim=(-2, -1)) * observed.norm(dim=(-2, -1))))


@pytest.fixture(scope="module")
def trpv1(real_data):
    particles = load_particles(real_data / "trpv1_small_stack.star")
    with mrcfile.open(real_data / "trpv1_volume.mrc", permissive=True) as mrc:
        volume = torch.from_numpy(np.asarray(mrc.data, dtype=np.float64))
        voxel = float(mrc.voxel_size.x)
    assert particles.n == 10 and particles.box == volume.shape[0]
    np.testing.assert_allclose(particles.apix, voxel, rtol=1e-4)
    images = torch.from_numpy(np.asarray(particles.images[np.arange(particles.n)],
                                         dtype=np.float64))
    mask = imaging.lowpass_mask(particles.box, voxel, LOWPASS_A)
    return particles, volume, voxel, imaging.apply_fourier_mask(images, mask), mask


def score(trpv1, transpose=False, shift_sign=1.0, ctf_sign=1.0):
    particles, volume, apix, observed, mask = trpv1
    rotations = torch.from_numpy(particles.rotations)
    if transpose:
        rotations = rotations.transpose(1, 2)
    shifts = shift_sign * torch.from_numpy(np.asarray(particles.shifts, dtype=np.float64))
    projections = imaging.project_volume(volume, rotations, apix, shifts=shifts)
    ctf = imaging.compute_ctf(torch.from_numpy(np.asarray(particles.ctf, dtype=np.float64)),
                              particles.box, particles.apix)
    model = imaging.apply_fourier_mask(imaging.apply_ctf(projections, ctf_sign * ctf), mask)
    return correlations(model, observed).numpy()


def report(name, values):
    print(f"TRPV1 {name}: mean {values.mean():.3f}, min {values.min():.3f}, "
          f"max {values.max():.3f}")


def test_relion_convention_matches_real_particles(trpv1):
    right = score(trpv1)
    report("RELION convention", right)
    assert right.mean() > 0.2, right
    assert right.min() > 0.15, right


def test_each_wrong_convention_scores_lower(trpv1):
    right = score(trpv1)
    flipped_shift = score(trpv1, shift_sign=-1.0)
    transposed = score(trpv1, transpose=True)
    flipped_ctf = score(trpv1, ctf_sign=-1.0)
    report("shift sign flipped", flipped_shift)
    report("rotation transposed", transposed)
    report("CTF sign flipped", flipped_ctf)
    assert flipped_shift.mean() < 0.1, flipped_shift
    assert transposed.mean() < right.mean() - 0.03, transposed
    assert flipped_ctf.mean() < 0, flipped_ctf
    assert (flipped_ctf < right).all()
