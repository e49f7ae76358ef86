"""training/pose_search.py: the global and local search find the pose a
particle was projected with (stage 1's use of it:
tests/engine/commands/test_pose_search_run.py)."""
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.training.pose_search import (PoseSearch, best_matches,
                                                        rotation_angles, shift_window)

D, APIX, LOW_PASS = 48, 1.45, 3.5 * 1.45


def residue_model(n=150, seed=0):
    """An elongated, asymmetric cloud of residues with a lobe off its axes
    (about 60 A long, as a small protein)."""
    rng = np.random.default_rng(seed)
    coords = rng.normal(0.0, 9.0, (n, 3)) * [1.3, 0.9, 0.6]
    coords[: n // 4] += [12.0, 8.0, 0.0]
    return torch.as_tensor(coords, dtype=torch.float32), torch.ones(n)


def angle_between(a, b):
    """Degrees between rotations a and b (B, 3, 3)."""
    relative = np.einsum("nij,nkj->nik", np.asarray(a, float), np.asarray(b, float))
    return Rotation.from_matrix(relative).magnitude() * 180.0 / np.pi


def test_best_matches_finds_the_template_and_its_offset():
    """An image that is template 2 moved by (3, -2) pixels scores best there."""
    rng = np.random.default_rng(0)
    templates = torch.as_tensor(rng.normal(size=(4, 16, 16)), dtype=torch.float32)
    image = torch.roll(templates[2], shifts=(-2, 3), dims=(0, 1))   # rows: y, columns: x
    spectra = torch.fft.rfft2(image)[None]
    filters = torch.ones(1, 16, 9)
    index, offset, score = best_matches(templates, filters, spectra, shift_window(16, 4))
    assert index.item() == 2 and offset[0].tolist() == [3.0, -2.0]
    # offsets beyond the window are never chosen
    index, offset, _ = best_matches(templates, filters, spectra, shift_window(16, 1))
    assert offset.abs().max() <= 1
    # per-particle templates (B, T, box, box) give the same as shared ones
    index2, offset2, score2 = best_matches(templates[None], filters, spectra,
                                           shift_window(16, 4))
    assert index2.item() == 2 and offset2[0].tolist() == [3.0, -2.0]


def test_the_search_finds_the_pose_of_noisy_projections():
    """Projections at random poses and origins, CTF-filtered, with noise
    at an SNR of 1 in the band: most searched poses lie within 10 degrees
    and their origins within a pixel of the search box, where the global
    grid alone is about 19 degrees apart."""
    B = 16
    coords, amplitudes = residue_model()
    truth = torch.as_tensor(Rotation.random(B, random_state=1).as_matrix(), dtype=torch.float32)
    origins = torch.as_tensor(np.random.default_rng(2).uniform(-4, 4, (B, 2)),
                              dtype=torch.float32)
    ctf = torch.tensor([[15000.0, 14000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0]]).expand(B, -1)
    lowpass = imaging.lowpass_mask(D, APIX, LOW_PASS)
    filters = imaging.compute_ctf(ctf, D, APIX) * lowpass
    clean = imaging.apply_ctf(imaging.project_gaussians(coords, amplitudes, truth, D, APIX,
                                                        sigma=2.0, shifts=origins), filters)
    noise = imaging.apply_fourier_mask(
        torch.randn(B, D, D, generator=torch.Generator().manual_seed(3)), lowpass)
    observed = clean + noise * clean.std() / noise.std()
    search = PoseSearch(coords, amplitudes, D, APIX, LOW_PASS, seed=0, sigma=2.0)
    rotations, found, score = search.search(observed, filters)
    assert rotations.shape == (B, 3, 3) and found.shape == (B, 2) and score.shape == (B,)
    errors = angle_between(truth, rotations)
    assert np.median(errors) < 8.0 and (errors < 10.0).mean() >= 0.6, errors
    shift_errors = (found - origins).norm(dim=1).numpy()
    assert np.median(shift_errors) < APIX * D / search.fine_box, shift_errors
    # the global grid alone is coarser: its best orientation per particle
    grid, _ = search._global_templates()
    nearest = [angle_between(truth[i].expand(len(grid), -1, -1), grid).min() for i in range(B)]
    assert np.median(errors) < np.median(nearest)
    # batches search alike: the templates are projected once
    again = search.search(observed[:4], filters[:4])
    assert again[0].shape == (4, 3, 3) and search._templates.shape[0] == len(grid)


def test_the_search_follows_the_seed():
    coords, amplitudes = residue_model()
    observed = torch.randn(2, D, D, generator=torch.Generator().manual_seed(0))
    filters = imaging.lowpass_mask(D, APIX, LOW_PASS).float().expand(2, -1, -1)
    first = PoseSearch(coords, amplitudes, D, APIX, LOW_PASS, seed=4).search(observed, filters)
    again = PoseSearch(coords, amplitudes, D, APIX, LOW_PASS, seed=4).search(observed, filters)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b)


def test_rotation_angles_are_the_angles_between_poses():
    a = Rotation.random(5, random_state=0)
    turns = Rotation.from_rotvec(np.array([[0.0, 0.0, 0.1], [0.3, 0.0, 0.0], [0.0, 0.0, 0.0],
                                           [1.0, 1.0, 1.0], [0.0, np.pi, 0.0]]))
    b = turns * a
    got = rotation_angles(torch.as_tensor(b.as_matrix()), torch.as_tensor(a.as_matrix()))
    np.testing.assert_allclose(got.numpy(), np.rad2deg(turns.magnitude()), atol=1e-3)
