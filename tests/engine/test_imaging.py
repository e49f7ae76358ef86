"""Image formation: projections, poses, CTF, shifts and masks."""
import math

import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.geometry import euler_to_matrix


def random_rotations(n, seed):
    return euler_to_matrix(
        np.random.default_rng(seed).uniform([-180, 0, -180], [180, 180, 180], (n, 3)))


def random_atoms(n, spread, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    coords = (torch.rand(n, 3, generator=gen, dtype=dtype) - 0.5) * 2 * spread
    amplitudes = torch.rand(n, generator=gen, dtype=dtype) + 0.5
    return coords, amplitudes


def correlation(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return np.corrcoef(a, b)[0, 1]


# ------------------------------------------------------------------ grids

def test_pixel_coordinates_put_box_centre_at_zero():
    assert imaging.pixel_coordinates(6, 2.0).tolist() == [-6, -4, -2, 0, 2, 4]
    assert imaging.pixel_coordinates(5, 1.0).tolist() == [-2, -1, 0, 1, 2]


# ---------------------------------------------------- Gaussian projection

def test_projection_is_line_integral_of_rendered_volume():
    D, apix = 40, 1.3
    coords, amplitudes = random_atoms(25, 12.0, seed=1)
    rotations = torch.from_numpy(random_rotations(3, seed=2))
    images = imaging.project_gaussians(coords, amplitudes, rotations, D, apix, sigma=2.0)
    for image, A in zip(images, rotations):
        volume = imaging.render_volume(coords @ A.T, amplitudes, D, apix, sigma=2.0)
        line_integral = volume.sum(0) * apix
        rel = (image - line_integral).norm() / line_integral.norm()
        assert rel < 1e-3
    # Each Gaussian carries its amplitude: the image integrates to the total,
    # less the tails beyond TRUNCATION_SIGMAS widths (2 erfc(4.5 / sqrt 2),
    # 1.4e-5 of each Gaussian).
    np.testing.assert_allclose(images.sum((1, 2)) * apix ** 2, amplitudes.sum(), rtol=3e-5)


def test_rendered_volume_integrates_to_amplitudes_and_chunks_agree(monkeypatch):
    coords, amplitudes = random_atoms(30, 4.0, seed=3)
    sigma = torch.linspace(1.5, 3.0, 30, dtype=torch.float64)
    volume = imaging.render_volume(coords, amplitudes, 32, 1.0, sigma=sigma)
    np.testing.assert_allclose(volume.sum(), amplitudes.sum(), rtol=1e-4)
    monkeypatch.setattr(imaging, "_RENDER_ELEMENTS_PER_CHUNK", 7 * 32 * 32)
    chunked = imaging.render_volume(coords, amplitudes, 32, 1.0, sigma=sigma)
    torch.testing.assert_close(chunked, volume)


def direct_projection(coords, amplitudes, A, origin, D, apix, sigma):
    """Pixel-by-pixel sum over atoms, written independently of the module."""
    grid = (np.arange(D) - D // 2) * apix
    image = np.zeros((D, D))
    for xyz, amp, sig in zip(coords, amplitudes, sigma):
        cx, cy, _ = A @ xyz
        cx, cy = cx - origin[0], cy - origin[1]
        for row, y in enumerate(grid):
            for col, x in enumerate(grid):
                r2 = (x - cx) ** 2 + (y - cy) ** 2
                image[row, col] += amp / (2 * math.pi * sig ** 2) * math.exp(-r2 / (2 * sig ** 2))
    return image


def test_projection_matches_direct_evaluation_with_pose_and_shift():
    D, apix = 20, 1.5
    coords, amplitudes = random_atoms(6, 6.0, seed=4)
    sigma = torch.tensor([1.5, 2.0, 2.5, 1.8, 2.2, 3.0], dtype=torch.float64)
    rotations = torch.from_numpy(random_rotations(2, seed=5))
    shifts = torch.tensor([[2.3, -1.1], [-3.0, 4.2]], dtype=torch.float64)
    images = imaging.project_gaussians(coords, amplitudes, rotations, D, apix,
                                       sigma=sigma, shifts=shifts)
    for b in range(2):
        expected = direct_projection(coords.numpy(), amplitudes.numpy(), rotations[b].numpy(),
                                     shifts[b].numpy(), D, apix, sigma.numpy())
        np.testing.assert_allclose(images[b].numpy(), expected, rtol=1e-9, atol=1e-12)


def test_dense_tails_are_clamped_where_their_products_stay_normal_floats():
    """The dense product multiplies an x factor, a y factor and a weight;
    clamped tails keep that product a normal float32 (denormals are many
    times slower on a CPU) and change a float32 image by less than its
    resolution, against the unclamped sum in float64."""
    tiny = torch.finfo(torch.float32).tiny
    assert math.exp(imaging._MIN_EXPONENT) ** 2 * 1e-7 >= tiny
    D, apix = 40, 2.32                      # the scoring pass's box for adk
    coords, amplitudes = random_atoms(60, 30.0, seed=8)
    rotations = torch.from_numpy(random_rotations(3, seed=9))
    images = imaging.project_gaussians(coords.float(), amplitudes.float(),
                                       rotations.float(), D, apix, sigma=2.0,
                                       truncate=False)
    for b in range(3):
        expected = direct_projection(coords.numpy(), amplitudes.numpy(),
                                     rotations[b].numpy(), np.zeros(2), D, apix,
                                     np.full(60, 2.0))
        assert np.abs(images[b].numpy() - expected).max() <= 1e-6 * np.abs(expected).max()


def test_batched_coordinates_match_shared_coordinates():
    coords, amplitudes = random_atoms(10, 6.0, seed=6, dtype=torch.float32)
    rotations = torch.from_numpy(random_rotations(3, seed=7))
    shared = imaging.project_gaussians(coords, amplitudes, rotations, 24, 1.0)
    batched = imaging.project_gaussians(coords.expand(3, -1, -1), amplitudes.expand(3, -1),
                                        rotations, 24, 1.0)
    assert shared.dtype == torch.float32
    torch.testing.assert_close(batched, shared)


def peak_pixel(image):
    return np.unravel_index(int(torch.argmax(image)), image.shape)


def test_shift_puts_particle_at_box_centre_minus_origin():
    D, apix = 32, 2.0
    atom = torch.zeros(1, 3)
    identity = torch.eye(3)[None]
    origin = torch.tensor([[3 * apix, -5 * apix]])            # (ox, oy)
    image = imaging.project_gaussians(atom, torch.ones(1), identity, D, apix, shifts=origin)[0]
    assert peak_pixel(image) == (D // 2 + 5, D // 2 - 3)      # (row y, column x)


def test_rotation_moves_atom_as_relion_projection():
    D, apix = 32, 1.0
    atom = torch.tensor([[10.0, 0.0, 0.0]])
    A = torch.from_numpy(euler_to_matrix([[90.0, 0.0, 0.0]])).float()
    image = imaging.project_gaussians(atom, torch.ones(1), A, D, apix)[0]
    assert peak_pixel(image) == (D // 2 - 10, D // 2)


def test_projection_gradients():
    gen = torch.Generator().manual_seed(8)
    coords = (torch.randn(4, 3, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    amplitudes = (torch.rand(4, generator=gen, dtype=torch.float64) + 1).requires_grad_()
    sigma = torch.tensor([1.6, 2.0, 2.4, 1.8], dtype=torch.float64, requires_grad=True)
    shifts = torch.randn(3, 2, generator=gen, dtype=torch.float64).requires_grad_()
    rotations = torch.from_numpy(random_rotations(3, seed=9))

    def project(c, a, s, t):
        return imaging.project_gaussians(c, a, rotations, 8, 1.4, sigma=s, shifts=t)

    assert torch.autograd.gradcheck(project, (coords, amplitudes, sigma, shifts))
    assert torch.autograd.gradcheck(
        lambda c: imaging.project_gaussians(c, amplitudes.detach(), rotations, 8, 1.4), (coords,))


def test_projection_gradient_matches_autograd_reference_in_float32():
    coords, amplitudes = random_atoms(40, 30.0, seed=10, dtype=torch.float32)
    rotations = torch.from_numpy(random_rotations(5, seed=11))
    weights = torch.randn(5, 32, 32, generator=torch.Generator().manual_seed(12))
    leaf = coords.clone().requires_grad_()
    (imaging.project_gaussians(leaf, amplitudes, rotations, 32, 1.5) * weights).sum().backward()
    reference = coords.clone().requires_grad_()
    centres = torch.einsum("bij,nj->bni", rotations[:, :2].float(), reference)
    grid = imaging.pixel_coordinates(32, 1.5)
    g = torch.exp(-(grid - centres[..., None]) ** 2 / 8.0)          # (B, N, 2, D)
    image = torch.einsum("bny,bnx->byx", g[:, :, 1] * amplitudes[:, None] / (8 * math.pi),
                         g[:, :, 0])
    (image * weights).sum().backward()
    # Up to the tails cut at TRUNCATION_SIGMAS widths.
    torch.testing.assert_close(leaf.grad, reference.grad, rtol=1e-4,
                               atol=1e-4 * float(reference.grad.abs().max()))


def test_projection_keeps_full_precision_under_autocast():
    coords, amplitudes = random_atoms(50, 10.0, seed=18, dtype=torch.float32)
    rotations = torch.from_numpy(random_rotations(4, seed=19))
    expected = imaging.project_gaussians(coords, amplitudes, rotations, 32, 1.0)
    leaf = coords.clone().requires_grad_()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        images = imaging.project_gaussians(leaf, amplitudes, rotations, 32, 1.0)
        loss = (images * torch.linspace(-1, 1, 32)).sum()
    assert images.dtype == torch.float32
    torch.testing.assert_close(images, expected)
    loss.backward()
    assert leaf.grad.dtype == torch.float32 and torch.isfinite(leaf.grad).all()
    half = coords.to(torch.bfloat16)
    assert imaging.project_gaussians(half, amplitudes, rotations, 32, 1.0).dtype == torch.float32


def test_bad_projection_input_raises():
    with pytest.raises(ValueError, match="coords"):
        imaging.project_gaussians(torch.zeros(5, 2), torch.ones(5), torch.eye(3)[None], 8, 1.0)
    with pytest.raises(ValueError, match="rotations"):
        imaging.project_gaussians(torch.zeros(5, 3), torch.ones(5), torch.eye(3), 8, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        imaging.project_gaussians(torch.zeros(5, 3), torch.ones(5), torch.eye(3)[None], 8, 1.0,
                                  sigma=0.0)


# --------------------------------------- truncated patches against dense

def dense_projection(coords, amplitudes, rotations, D, apix, sigma, shifts):
    """Every Gaussian on every pixel, by plain autograd (the reference)."""
    coords = coords.expand(rotations.shape[0], -1, -1)
    centres = torch.einsum("bij,bnj->bni", rotations[:, :2], coords)
    if shifts is not None:
        centres = centres - shifts[:, None, :]
    sigma = torch.as_tensor(sigma, dtype=coords.dtype)
    grid = imaging.pixel_coordinates(D, apix, dtype=coords.dtype)
    g = torch.exp(-(grid - centres[..., None]) ** 2 / (2 * sigma[..., None, None] ** 2))
    weight = amplitudes / (2 * math.pi * sigma ** 2)
    return torch.einsum("bny,bnx->byx", g[:, :, 1] * weight[..., None], g[:, :, 0])


def assert_patches_match_dense(coords, amplitudes, rotations, D, apix, sigma, shifts=None,
                               rtol=1e-4):
    """Values within ``rtol`` of the image peak, gradients (coordinates,
    amplitudes, widths, shifts) within ``rtol`` of their largest value; a
    single width's gradient, one sum over every pixel of every Gaussian
    whose terms largely cancel, within 1e-3 of its value."""
    sigma = torch.as_tensor(sigma, dtype=coords.dtype)
    assert imaging._window_size(sigma, apix, D) is not None, "patch path not taken"
    weights = torch.randn(rotations.shape[0], D, D, dtype=coords.dtype,
                          generator=torch.Generator().manual_seed(0))
    inputs = [coords, amplitudes, sigma] + ([] if shifts is None else [shifts])
    results = []
    for project in (imaging.project_gaussians, dense_projection):
        leaves = [x.clone().requires_grad_() for x in inputs]
        image = project(*leaves[:2], rotations, D, apix, leaves[2],
                        leaves[3] if shifts is not None else None)
        (image * weights).sum().backward()
        results.append([image.detach()] + [leaf.grad for leaf in leaves])
    for name, got, expected in zip(["image", "coords", "amplitudes", "sigma", "shifts"],
                                   *results):
        scale = float(expected.abs().max())
        assert scale > 0, name
        tol = 1e-3 if expected.dim() == 0 else rtol
        torch.testing.assert_close(got, expected, rtol=0, atol=tol * scale, msg=name)


def test_patches_match_dense_projection_with_per_particle_poses():
    # Atoms (1 A wide on 1.45 A pixels: 7 x 7 patches), a different
    # rotation and shift per particle, per-particle coordinates and weights.
    D, apix = 64, 1.45
    coords, amplitudes = random_atoms(300, 25.0, seed=30)
    rotations = torch.from_numpy(random_rotations(6, seed=31))
    shifts = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(32))
    assert imaging._window_size(1.084, apix, D) == 7
    jitter = torch.randn(6, 300, 3, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(33))
    scale = torch.rand(6, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(34))
    assert_patches_match_dense(coords + jitter, amplitudes * (scale + 0.5), rotations, D, apix,
                               1.084, shifts * 3)
    assert_patches_match_dense(coords.float(), amplitudes.float(), rotations.float(), D, apix,
                               1.084, shifts.float())


def test_training_truncation_keeps_the_compared_band():
    # Stage 1 cuts an atom (1.084 A on 1.45 A pixels) at 3 widths: 5 x 5
    # patches instead of 7 x 7. Within the 5 A band its image loss compares,
    # images and coordinate gradients stay close to the untruncated ones;
    # the cut at 2.5 widths (4 x 4) is measurably worse, so the bound is
    # not met by any cut.
    D, apix, sigma = 64, 1.45, 1.084
    assert imaging._window_size(sigma, apix, D, imaging.TRAINING_TRUNCATION_SIGMAS) == 5
    coords, amplitudes = random_atoms(400, 25.0, seed=50)
    coords, amplitudes = coords.float(), amplitudes.float()
    rotations = torch.from_numpy(random_rotations(8, seed=51)).float()
    shifts = 3 * torch.randn(8, 2, generator=torch.Generator().manual_seed(52))
    jitter = 0.3 * torch.randn(8, 400, 3, generator=torch.Generator().manual_seed(53))
    k = torch.sqrt(torch.fft.fftfreq(D, d=apix)[:, None] ** 2
                   + torch.fft.rfftfreq(D, d=apix)[None, :] ** 2)
    band = (k <= 1 / 5.075).float()
    weights = torch.randn(8, D, D, generator=torch.Generator().manual_seed(54))

    def band_limited(truncate):
        leaf = (coords + jitter).requires_grad_()
        image = imaging.project_gaussians(leaf, amplitudes, rotations, D, apix, sigma=sigma,
                                          shifts=shifts, truncate=truncate)
        image = torch.fft.irfft2(torch.fft.rfft2(image) * band, s=(D, D))
        (image * weights).sum().backward()
        return image.detach(), leaf.grad

    exact_image, exact_grad = band_limited(False)

    def errors(truncate):
        image, grad = band_limited(truncate)
        return (float((image - exact_image).abs().max() / exact_image.abs().max()),
                float((grad - exact_grad).norm() / exact_grad.norm()))

    image_error, grad_error = errors(imaging.TRAINING_TRUNCATION_SIGMAS)
    assert image_error < 2e-3 and grad_error < 1e-2, (image_error, grad_error)
    coarse_image, coarse_grad = errors(2.5)
    assert coarse_image > 2 * image_error and coarse_grad > 2 * grad_error
    default_image, default_grad = errors(True)
    assert default_image < 1e-4 and default_grad < 1e-3


def test_patch_gradients_are_those_of_the_patch_image():
    gen = torch.Generator().manual_seed(40)
    coords = (torch.randn(4, 3, generator=gen, dtype=torch.float64) * 4).requires_grad_()
    amplitudes = (torch.rand(4, generator=gen, dtype=torch.float64) + 1).requires_grad_()
    sigma = torch.tensor([0.4, 0.5, 0.45, 0.42], dtype=torch.float64, requires_grad=True)
    shifts = torch.randn(2, 2, generator=gen, dtype=torch.float64).requires_grad_()
    rotations = torch.from_numpy(random_rotations(2, seed=41))
    assert imaging._window_size(sigma, 1.0, 26) == 5

    def project(c, a, s, t):
        return imaging.project_gaussians(c, a, rotations, 26, 1.0, sigma=s, shifts=t)

    assert torch.autograd.gradcheck(project, (coords, amplitudes, sigma, shifts))
    assert torch.autograd.gradcheck(lambda c, a: project(c, a, 0.5, None), (coords, amplitudes))


def test_patches_match_dense_projection_at_and_beyond_the_box_edge():
    D, apix = 48, 1.5
    half = D // 2 * apix
    edge = torch.tensor([[half - 0.4, 0.0, 0.0], [-half - 1.0, 3.0, 0.0], [2.0, half + 2.5, 1.0],
                         [-half + 0.2, -half + 0.3, 0.0], [half + 4.0, -half - 4.0, 0.0],
                         [1e4, 0.0, 0.0], [0.0, -1e4, 0.0], [0.0, 0.0, 0.0]],
                        dtype=torch.float64)
    amplitudes = torch.linspace(1.0, 2.0, len(edge), dtype=torch.float64)
    identity = torch.eye(3, dtype=torch.float64).expand(3, -1, -1)
    shifts = torch.tensor([[0.0, 0.0], [0.7, -0.7], [-half, half]], dtype=torch.float64)
    assert_patches_match_dense(edge, amplitudes, identity, D, apix, 1.0, shifts)
    # A Gaussian far outside the box leaves nothing and gets no gradient.
    far = edge[5:6].clone().requires_grad_()
    image = imaging.project_gaussians(far, torch.ones(1, dtype=torch.float64), identity, D,
                                      apix, 1.0)
    image.sum().backward()
    assert float(image.detach().abs().max()) == 0.0 and float(far.grad.abs().max()) == 0.0


def test_patches_hold_the_widest_gaussian_and_wide_ones_fall_back_to_dense():
    D, apix = 96, 1.0
    coords, amplitudes = random_atoms(40, 12.0, seed=35)
    rotations = torch.from_numpy(random_rotations(3, seed=36))
    # Widths from 0.6 to 2.0 A: the patch is sized for the widest (19 px),
    # so narrow Gaussians sit in a patch many widths wide.
    sigma = torch.linspace(0.6, 2.0, 40, dtype=torch.float64)
    assert imaging._window_size(sigma, apix, D) == 19
    assert_patches_match_dense(coords, amplitudes, rotations, D, apix, sigma)
    # Wider than K = D / 5 allows (K = 28): the exact dense product.
    assert imaging._window_size(3.0, apix, D) is None
    torch.testing.assert_close(
        imaging.project_gaussians(coords, amplitudes, rotations, D, apix, 3.0),
        dense_projection(coords, amplitudes, rotations, D, apix, 3.0, None),
        rtol=1e-12, atol=1e-14)


def test_patch_chunks_agree_and_non_finite_coordinates_give_nan(monkeypatch):
    D, apix = 32, 1.45
    coords, amplitudes = random_atoms(50, 12.0, seed=37, dtype=torch.float32)
    rotations = torch.from_numpy(random_rotations(7, seed=38)).float()
    leaf = coords.clone().requires_grad_()
    whole = imaging.project_gaussians(leaf, amplitudes, rotations, D, apix, 1.1)
    whole.pow(2).sum().backward()
    monkeypatch.setattr(imaging, "_PATCH_ELEMENTS_PER_CHUNK", 2 * 50 * 7 * 7)
    chunked_leaf = coords.clone().requires_grad_()
    chunked = imaging.project_gaussians(chunked_leaf, amplitudes, rotations, D, apix, 1.1)
    chunked.pow(2).sum().backward()
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(chunked_leaf.grad, leaf.grad)
    # A diverged decoder's NaN reaches the loss (where the step is skipped)
    # instead of failing as an index out of range.
    broken = coords.clone()
    broken[3] = float("nan")
    assert torch.isnan(imaging.project_gaussians(broken, amplitudes, rotations, D, apix,
                                                 1.1)).any()



def test_patch_backward_reuses_the_forward_and_repeats_through_a_retained_graph():
    # The forward keeps each chunk's indices, offsets and factors for the
    # backward pass, which releases them; a second backward pass through a
    # retained graph computes them again and gives the same gradients.
    D, apix = 40, 1.45
    coords, amplitudes = random_atoms(60, 12.0, seed=42, dtype=torch.float32)
    rotations = torch.from_numpy(random_rotations(5, seed=43)).float()
    weights = torch.randn(5, D, D, generator=torch.Generator().manual_seed(44))
    leaf = coords.clone().requires_grad_()
    image = imaging.project_gaussians(leaf, amplitudes, rotations, D, apix, 1.1)
    node = image.grad_fn
    assert type(node).__name__ == "_TruncatedGaussianImageBackward"
    assert imaging._window_size(1.1, apix, D) == 7
    assert len(node.kept) == len(imaging._chunks(5, 60 * 7 * 7, D + 14))
    loss = (image * weights).sum()
    loss.backward(retain_graph=True)
    first = leaf.grad.clone()
    assert node.kept is None
    leaf.grad = None
    loss.backward()
    torch.testing.assert_close(leaf.grad, first, rtol=0, atol=0)
    # the gradient of the dense product, up to the tails and float32 sums
    reference = coords.clone().requires_grad_()
    (dense_projection(reference, amplitudes, rotations, D, apix, 1.1, None)
     * weights).sum().backward()
    torch.testing.assert_close(first, reference.grad, rtol=0,
                               atol=2e-4 * float(reference.grad.abs().max()))
    # nothing is kept where no gradient is asked for
    with torch.no_grad():
        assert imaging.project_gaussians(leaf, amplitudes, rotations, D, apix,
                                         1.1).grad_fn is None

def test_stage1_loss_of_heavy_atoms_unchanged_by_patches(adk_dir):
    from cryostar_boltz.engine.losses import correlation_loss
    from cryostar_boltz.engine.pseudoatoms import atom_sigma
    from cryostar_boltz.engine.structure import load_structure
    model = load_structure(adk_dir / "adk_closed.pdb")
    heavy = model.atoms.atomic_numbers > 1
    coords = torch.as_tensor(model.atoms.coords[heavy] - model.coords.mean(0))
    amplitudes = torch.as_tensor(model.atoms.atomic_numbers[heavy], dtype=torch.float64)
    D, apix = 64, 1.45
    rotations = torch.from_numpy(random_rotations(4, seed=39))
    ctf = imaging.compute_ctf(torch.tensor([[15000.0, 15500.0, 10.0, 300.0, 2.7, 0.1, 0.0, 0.0]],
                                           dtype=torch.float64).expand(4, -1), D, apix)
    lowpass = imaging.lowpass_mask(D, apix, 5.0)
    observed = imaging.apply_ctf(dense_projection(coords + 0.5, amplitudes, rotations, D, apix,
                                                  atom_sigma(apix), None), ctf * lowpass)
    mask = imaging.circular_mask(D)
    losses = [correlation_loss(imaging.apply_ctf(
        project(coords, amplitudes, rotations, D, apix, atom_sigma(apix), None), ctf * lowpass),
        observed, mask) for project in (imaging.project_gaussians, dense_projection)]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=0)


# --------------------------------------------------------- map projection

def test_volume_projection_matches_gaussian_projection():
    D, apix = 40, 1.5
    coords, amplitudes = random_atoms(30, 14.0, seed=13)
    rotations = torch.from_numpy(random_rotations(4, seed=14))
    shifts = torch.tensor([[0.0, 0.0], [3.0, -4.5], [-6.0, 1.5], [2.0, 2.0]], dtype=torch.float64)
    volume = imaging.render_volume(coords, amplitudes, D, apix)
    from_map = imaging.project_volume(volume, rotations, apix, shifts=shifts)
    from_atoms = imaging.project_gaussians(coords, amplitudes, rotations, D, apix, shifts=shifts)
    for a, b in zip(from_map, from_atoms):
        assert correlation(a, b) > 0.99
        np.testing.assert_allclose(a.sum(), b.sum(), rtol=1e-2)


def test_volume_projection_chunks_agree(monkeypatch):
    coords, amplitudes = random_atoms(10, 6.0, seed=15, dtype=torch.float32)
    volume = imaging.render_volume(coords, amplitudes, 16, 1.5)
    rotations = torch.from_numpy(random_rotations(5, seed=16))
    whole = imaging.project_volume(volume, rotations, 1.5)
    monkeypatch.setattr(imaging, "_VOLUME_SAMPLES_PER_CHUNK", 2 * 16 ** 3)
    torch.testing.assert_close(imaging.project_volume(volume, rotations, 1.5), whole)


# ---------------------------------------------------------------------- CTF

def relion_ctf(sx, sy, dfu, dfv, angle_deg, kv, cs_mm, w, phase_deg, bfactor):
    """RELION's CTF::getCTF written out in its own constants (K1..K5)."""
    volts = kv * 1e3
    lam = 12.2643247 / math.sqrt(volts * (1.0 + volts * 0.978466e-6))
    k1 = math.pi / 2 * 2 * lam
    k2 = math.pi / 2 * cs_mm * 1e7 * lam ** 3
    k3 = math.atan(w / math.sqrt(1 - w * w))
    k4 = -bfactor / 4.0
    k5 = math.radians(phase_deg)
    u2 = sx * sx + sy * sy
    average, deviation = -(dfu + dfv) / 2, -(dfu - dfv) / 2
    deltaf = average + deviation * math.cos(2 * (math.atan2(sy, sx) - math.radians(angle_deg)))
    argument = k1 * deltaf * u2 + k2 * u2 * u2 - k5 - k3
    return -math.sin(argument) * math.exp(k4 * u2)


def test_electron_wavelength():
    assert imaging.electron_wavelength(300.0) == pytest.approx(0.019687, abs=1e-6)
    assert imaging.electron_wavelength(200.0) == pytest.approx(0.025079, abs=1e-6)


@pytest.mark.parametrize("params", [
    (15000.0, 15000.0, 0.0, 300.0, 2.7, 0.07, 0.0, 0.0),
    (14000.0, 18000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0),
    (20000.0, 17500.0, -65.0, 200.0, 1.4, 0.07, 40.0, 80.0),
])
def test_ctf_matches_relion_formula(params):
    frequencies = [(0.01, 0.0), (0.0, 0.02), (0.015, -0.025), (-0.04, 0.03), (0.06, 0.05)]
    fx = torch.tensor([f[0] for f in frequencies], dtype=torch.float64)
    fy = torch.tensor([f[1] for f in frequencies], dtype=torch.float64)
    values = imaging.ctf_value(fy, fx, torch.tensor(params, dtype=torch.float64))
    expected = [relion_ctf(sx, sy, *params) for sx, sy in frequencies]
    np.testing.assert_allclose(values.numpy(), expected, atol=2e-4)


def test_compute_ctf_layout_and_per_particle_pixel_size():
    params = torch.tensor([[15000.0, 16000.0, 20.0, 300.0, 2.7, 0.1, 0.0, 10.0],
                           [22000.0, 21000.0, -40.0, 300.0, 2.7, 0.1, 0.0, 0.0]],
                          dtype=torch.float64)
    ctf = imaging.compute_ctf(params, 16, 2.0)
    assert ctf.shape == (2, 16, 9)
    # Row 3, column 5 of the rfft2 layout is (fy, fx) = (3, 5) / (D apix).
    expected = relion_ctf(5 / 32, 3 / 32, *params[1].tolist())
    assert float(ctf[1, 3, 5]) == pytest.approx(expected, abs=2e-4)
    # Row D - 3 holds the negative frequency -3 / (D apix).
    expected = relion_ctf(5 / 32, -3 / 32, *params[1].tolist())
    assert float(ctf[1, 13, 5]) == pytest.approx(expected, abs=2e-4)
    full = imaging.compute_ctf(params, 16, 2.0, rfft=False)
    assert full.shape == (2, 16, 16)
    # Same values up to the Nyquist column, which rfft2 holds at +1/(2 apix).
    torch.testing.assert_close(full[..., :8], ctf[..., :8])
    per_particle = imaging.compute_ctf(params, 16, np.array([2.0, 3.0]))
    torch.testing.assert_close(per_particle[0], ctf[0])
    torch.testing.assert_close(per_particle[1], imaging.compute_ctf(params[1:], 16, 3.0)[0])


def test_ctf_in_float32_matches_float64():
    params = torch.tensor([[15000.0, 16000.0, 20.0, 300.0, 2.7, 0.1, 30.0, 10.0]],
                          dtype=torch.float64)
    single = imaging.compute_ctf(params.float(), 64, 1.5)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), imaging.compute_ctf(params, 64, 1.5),
                               atol=2e-4, rtol=0)
    assert imaging.electron_wavelength(torch.tensor(300.0)) == pytest.approx(0.019687, abs=1e-6)


def test_bad_ctf_columns_raise():
    with pytest.raises(ValueError, match="columns"):
        imaging.compute_ctf(torch.zeros(3, 7), 16, 1.0)


def test_first_ctf_lobe_is_positive_and_particles_appear_white():
    params = torch.tensor([[15000.0, 15000.0, 0.0, 300.0, 2.7, 0.1, 0.0, 0.0]],
                          dtype=torch.float64)
    s = torch.tensor([0.0, 0.01, 0.03])
    values = imaging.ctf_value(torch.zeros(3), s, params[0])
    assert values[0] == pytest.approx(0.1)                      # w cos(0)
    assert (values > 0).all()
    D, apix = 64, 2.0
    blob = imaging.project_gaussians(torch.zeros(1, 3, dtype=torch.float64),
                                     torch.ones(1, dtype=torch.float64),
                                     torch.eye(3, dtype=torch.float64)[None], D, apix, sigma=8.0)
    image = imaging.apply_ctf(blob, imaging.compute_ctf(params, D, apix))
    image = imaging.apply_fourier_mask(image, imaging.lowpass_mask(D, apix, 20.0))
    centre = image[0, D // 2, D // 2]
    assert centre > 0 and centre > image[0].mean()
    flipped = imaging.apply_ctf(blob, -imaging.compute_ctf(params, D, apix))
    assert flipped[0, D // 2, D // 2] < 0


# -------------------------------------------------------- shifts and masks

def test_fourier_shift_matches_roll_for_whole_pixels():
    gen = torch.Generator().manual_seed(17)
    images = torch.randn(2, 12, 12, generator=gen, dtype=torch.float64)
    apix = 1.5
    shifts = torch.tensor([[3 * apix, -2 * apix], [-5 * apix, 4 * apix]], dtype=torch.float64)
    moved = imaging.fourier_shift(images, shifts, apix)
    np.testing.assert_allclose(moved[0].numpy(), np.roll(images[0].numpy(), (-2, 3), axis=(0, 1)),
                               atol=1e-10)
    np.testing.assert_allclose(moved[1].numpy(), np.roll(images[1].numpy(), (4, -5), axis=(0, 1)),
                               atol=1e-10)


def test_fourier_shift_sub_pixel_matches_shifted_projection():
    D, apix = 32, 1.0
    atom, amp, identity = torch.zeros(1, 3), torch.ones(1), torch.eye(3)[None]
    shift = torch.tensor([[1.3, -2.6]])
    centred = imaging.project_gaussians(atom, amp, identity, D, apix)
    moved = imaging.fourier_shift(centred, shift, apix)
    expected = imaging.project_gaussians(atom, amp, identity, D, apix, shifts=-shift)
    torch.testing.assert_close(moved, expected, atol=1e-5, rtol=0)


def test_fourier_frequencies_layout():
    fy, fx = imaging.fourier_frequencies(8, 2.0)
    assert fy.shape == (8, 1) and fx.shape == (1, 5)
    np.testing.assert_allclose(fy[:, 0].numpy(), np.fft.fftfreq(8, 2.0))
    np.testing.assert_allclose(fx[0].numpy(), np.fft.rfftfreq(8, 2.0))
    fy, fx = imaging.fourier_frequencies(8, 2.0, rfft=False)
    assert (fy + fx).shape == (8, 8)


def test_lowpass_mask():
    D, apix, bandwidth = 64, 2.0, 10.0
    mask = imaging.lowpass_mask(D, apix, bandwidth)
    assert mask.shape == (D, D // 2 + 1) and mask.dtype == torch.bool
    full = imaging.lowpass_mask(D, apix, bandwidth, rfft=False)
    assert full.shape == (D, D)
    # Radius D apix / bandwidth = 12.8 frequency steps: about pi 12.8^2 samples.
    assert abs(int(full.sum()) - math.pi * 12.8 ** 2) < 0.03 * math.pi * 12.8 ** 2
    assert mask[0, 0] and mask[12, 0] and not mask[13, 0] and not mask[0, 13]
    images = torch.randn(3, D, D, dtype=torch.float64)
    torch.testing.assert_close(imaging.apply_fourier_mask(images, mask),
                               imaging.apply_fourier_mask(images, full))
    filtered = torch.fft.rfft2(imaging.apply_fourier_mask(images, mask))
    assert filtered[:, ~mask].abs().max() < 1e-9
    with pytest.raises(ValueError, match="mask"):
        imaging.apply_fourier_mask(images, torch.ones(5, 5, dtype=torch.bool))


def test_circular_mask():
    mask = imaging.circular_mask(64)
    assert mask.shape == (64, 64) and mask.dtype == torch.bool
    radius = 0.9375 * 32
    assert mask[32, 32] and mask[32, 32 + 30] and not mask[32, 32 + 31] and not mask[0, 0]
    assert abs(int(mask.sum()) - math.pi * radius ** 2) < 0.02 * math.pi * radius ** 2
    assert int(imaging.circular_mask(16, 0.5).sum()) == int(
        sum((y - 8) ** 2 + (x - 8) ** 2 <= 16 for y in range(16) for x in range(16)))


# ------------------------------------------------------- in-plane alignment

def _inplane(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_in_plane_aligned_image_is_the_projection_with_the_canonical_pose():
    torch.manual_seed(0)
    coords = torch.randn(60, 3) * torch.tensor([12.0, 6.0, 4.0])
    amplitudes = torch.ones(60)
    rotations = torch.stack([torch.as_tensor(euler_to_matrix(a), dtype=torch.float32)
                             for a in ((10, 40, 70), (200, 95, -120), (-60, 150, 15))])
    shifts = torch.tensor([[3.0, -2.0], [0.0, 0.0], [-5.5, 4.0]])
    images = imaging.project_gaussians(coords, amplitudes, rotations, 64, 1.5,
                                       sigma=2.0, shifts=shifts)
    angles = imaging.in_plane_angles(rotations)
    canonical = torch.stack([_inplane(-float(a)) @ r for a, r in zip(angles, rotations)])
    assert canonical[:, 1, 0].abs().max() < 1e-6 and (canonical[:, 0, 0] > 0).all()
    expected = imaging.project_gaussians(coords, amplitudes, canonical, 64, 1.5, sigma=2.0)
    aligned = imaging.in_plane_aligned(images, rotations, shifts, 1.5)
    error = (aligned - expected).norm(dim=(1, 2)) / expected.norm(dim=(1, 2))
    assert error.max() < 0.05          # bilinear interpolation of 1.3-px Gaussians
    # the raw image is far from it: the alignment did turn and centre it
    raw = (images - expected).norm(dim=(1, 2)) / expected.norm(dim=(1, 2))
    assert raw.min() > 0.5


def test_in_plane_aligned_is_the_same_for_every_in_plane_angle_and_shift():
    coords = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)) * 8.0
    base = torch.as_tensor(euler_to_matrix((30, 60, 0)), dtype=torch.float32)
    rotations = torch.stack([_inplane(a) @ base for a in (0.0, 1.0, 2.5, -2.0)])
    shifts = torch.tensor([[0.0, 0.0], [4.0, 1.0], [-3.0, 6.0], [2.2, -2.7]])
    images = imaging.project_gaussians(coords, torch.ones(40), rotations, 48, 1.5,
                                       sigma=2.0, shifts=shifts)
    aligned = imaging.in_plane_aligned(images, rotations, shifts, 1.5)
    spread = (aligned - aligned[:1]).norm(dim=(1, 2)) / aligned[0].norm()
    assert spread.max() < 0.05
    # outside the circle, and where the input has no pixels: the fill value
    filled = imaging.in_plane_aligned(images + 0.25, rotations, shifts, 1.5, fill=0.25)
    assert torch.allclose(filled[:, 0, 0], torch.full((4,), 0.25))
    assert torch.allclose(filled - 0.25, aligned, atol=1e-6)
    with pytest.raises(ValueError, match="images must be"):
        imaging.in_plane_aligned(images[0], rotations[:1], shifts[:1], 1.5)
