"""Image formation: projection of pseudo-atoms and maps, CTF, shifts, masks.

Conventions (see ``cryostar_boltz.engine`` and ``docs/conventions.rst``):
lengths in Angstrom, images ``[..., y, x]``, volumes ``[z, y, x]``, pixel
``i`` at ``(i - D//2) * apix``, RELION poses (``x_image = A @ x_model``; the
particle centre sits at the box centre minus the origin ``(ox, oy)``) and
RELION's CTF sign (positive density appears white). Rotations are RELION's
matrices ``A`` from ``engine.geometry`` (``euler_to_matrix``), as tensors.

Everything works on batched torch tensors, float32 or float64, on any device;
the Gaussian projection is differentiable in the coordinates and the widths.
"""
import math

import numpy as np
import scipy.constants
import torch
import torch.nn.functional as F

from . import CTF_COLUMNS

#: Exponents below this are clamped: clamping avoids the slow paths of exp
#: for huge arguments and denormal floats, on which a CPU computes 5-10x
#: slower. exp(-35) is 6.3e-16, so the product of an x and a y factor and
#: a weight above 1e-7 (the dense image's matrix product) is still a normal
#: float32, and a clamped tail adds nothing a float32 sum of 1 can hold.
_MIN_EXPONENT = -35.0
#: The clamp of a map's three voxel factors (``render_volume``, which
#: renders reference maps, not training images): a product of three
#: factors at -35 would be denormal, at -80 it rounds to zero.
_MIN_VOLUME_EXPONENT = -80.0
#: Elements of a batch-by-depth sampling grid ``project_volume`` builds at once.
_VOLUME_SAMPLES_PER_CHUNK = 1 << 22
#: Elements of the (atoms, D*D) slab ``render_volume`` builds at once.
_RENDER_ELEMENTS_PER_CHUNK = 1 << 23


# --------------------------------------------------------------------- grids

def pixel_coordinates(D, apix, device=None, dtype=torch.float32):
    """Positions (D,) in Angstrom of the pixel centres: ``(i - D//2) * apix``."""
    return (torch.arange(D, device=device, dtype=dtype) - D // 2) * apix


# ------------------------------------------------------- pseudo-atom images

def _as_like(value, like):
    """``value`` as a tensor with the dtype and device of ``like``."""
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _gaussian_factors(sigma, like):
    """``(1 / (2 sigma^2), 1 / (2 pi sigma^2))`` as scalars or per-atom tensors."""
    if isinstance(sigma, torch.Tensor):
        sigma = sigma.to(dtype=like.dtype, device=like.device)
        var = sigma * sigma
        return 0.5 / var, 1.0 / (2.0 * math.pi * var)
    sigma = float(sigma)
    if sigma <= 0:
        raise ValueError(f"Gaussian sigma must be positive, got {sigma}")
    return 0.5 / sigma ** 2, 1.0 / (2.0 * math.pi * sigma ** 2)


def project_gaussians(coords, amplitudes, rotations, D, apix, sigma=2.0,
                      shifts=None, truncate=True):
    """Projection images (B, D, D) of isotropic Gaussian pseudo-atoms.

    ``coords`` (N, 3) or (B, N, 3) in the model frame, ``amplitudes`` (N,) or
    (B, N), ``rotations`` (B, 3, 3) RELION ``A``, ``sigma`` a float or (N,)
    widths, ``shifts`` (B, 2) RELION origins ``(ox, oy)`` or None. Each
    Gaussian integrates to its amplitude over the plane (the image is in
    amplitude per square Angstrom, sampled at pixel centres). Half-precision
    coordinates (mixed-precision decoders) are projected in float32.

    A 3D Gaussian projects to a 2D Gaussian, which is a product of an x and
    a y factor, without any voxel grid. On the CPU each Gaussian is cut at
    ``truncate`` widths along x and y (``True``: ``TRUNCATION_SIGMAS``, 4.5)
    and then touches a (K, K) patch of pixels (K = 7 for an atom at 1.45 A
    per pixel at 4.5 widths, 5 at ``TRAINING_TRUNCATION_SIGMAS``): at 4.5
    widths values and gradients match the untruncated sum within about 1e-4
    of their largest magnitude, at several times its speed for atoms.
    Elsewhere, and when the patch would span more than a fifth of the box,
    the image is the exact batched matrix product of the (B, N, D) factors.
    ``truncate=False`` always takes the exact product (the cheaper for a
    forward pass of few, wide Gaussians on a small box).
    """
    if coords.shape[-1] != 3 or coords.dim() not in (2, 3):
        raise ValueError(f"coords must be (N, 3) or (B, N, 3), got {tuple(coords.shape)}")
    if coords.dtype in (torch.float16, torch.bfloat16):
        coords = coords.float()
    rotations = _as_like(rotations, coords)
    if rotations.dim() != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f"rotations must be (B, 3, 3), got {tuple(rotations.shape)}")
    # Half precision would round exponents up to ~80 and sum N atoms with a
    # 8-11 bit mantissa: the projection runs in float32 or float64.
    with torch.autocast(device_type=coords.device.type, enabled=False):
        # In-plane rows of A only; centres (B, 2, N) keep N contiguous.
        centres = torch.matmul(rotations[:, :2, :], coords.transpose(-1, -2))
        if shifts is not None:
            centres = centres - _as_like(shifts, coords).unsqueeze(-1)
        inv_two_var, norm = _gaussian_factors(sigma, coords)
        inv_two_var = _as_like(inv_two_var, coords)
        if inv_two_var.dim():
            inv_two_var = inv_two_var.unsqueeze(-1)   # (N, 1)
        weight = _as_like(amplitudes, coords) * norm  # (N,) or (B, N)
        widths = TRUNCATION_SIGMAS if truncate is True else float(truncate)
        window = (_window_size(sigma, apix, D, widths)
                  if truncate and coords.device.type == "cpu" else None)
        if window is None:
            pixels = pixel_coordinates(D, apix, coords.device, coords.dtype)
            return _SeparableGaussianImage.apply(centres, weight, inv_two_var, pixels)
        return _TruncatedGaussianImage.apply(centres, weight, inv_two_var,
                                             int(D), float(apix), window)


def _exponent_offsets(centres, pixels):
    """``p - c`` laid out (2, B, N, D): axis-major keeps each factor contiguous."""
    # A contiguous (2, B, N) operand makes the result contiguous too (the
    # factors are then plain row-major matrices for bmm, with no copies).
    return pixels - centres.transpose(0, 1).contiguous().unsqueeze(-1)


class _SeparableGaussianImage(torch.autograd.Function):
    """``image[b, y, x] = sum_n w[b, n] gy[b, n, y] gx[b, n, x]``.

    ``g = exp(-k (p - c)^2)`` for pixel positions ``p``, centres ``c``
    (B, 2, N) and ``k = 1 / (2 sigma^2)``. Hand-written backward pass: the
    forward builds the factors in place (no autograd intermediates), which
    makes the forward about 4x and forward plus backward about 3x faster
    than plain autograd (B 256, N 214, D 64, one CPU thread).
    """

    @staticmethod
    def forward(ctx, centres, weight, inv_two_var, pixels):
        factors = _exponent_offsets(centres, pixels)  # (2, B, N, D)
        factors.square_().mul_(-inv_two_var).clamp_(min=_MIN_EXPONENT).exp_()
        gx, gy = factors
        unweighted_gy = gy.clone() if ctx.needs_input_grad[1] else None
        gy.mul_(weight.unsqueeze(-1))
        ctx.save_for_backward(centres, weight, inv_two_var, pixels,
                              factors, unweighted_gy)
        return torch.bmm(gy.transpose(1, 2), gx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_image):
        centres, weight, inv_two_var, pixels, factors, unweighted_gy = ctx.saved_tensors
        gx, gy = factors
        grad_image = grad_image.to(factors.dtype).contiguous()
        grad_factors = torch.empty_like(factors, memory_format=torch.contiguous_format)
        torch.bmm(gy, grad_image, out=grad_factors[0])                  # x
        torch.bmm(gx, grad_image.transpose(1, 2), out=grad_factors[1])  # y
        grad_centres = grad_weight = grad_inv = None
        if ctx.needs_input_grad[1]:
            grad_weight = (grad_factors[1] * unweighted_gy).sum(-1).sum_to_size(weight.shape)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[2]:
            # d loss / d exponent = grad_g * g, then d exponent / d c = 2 k (p - c).
            grad_exponent = grad_factors.mul_(factors)                  # (2, B, N, D)
            if ctx.needs_input_grad[0]:
                # sum_p t (p - c) as moments: no (2, B, N, D) offsets tensor.
                first_moment = (grad_exponent.view(-1, pixels.shape[0]) @ pixels
                                ).view(grad_exponent.shape[:-1])         # (2, B, N)
                mass = grad_exponent.sum(-1)
                grad_centres = (2.0 * inv_two_var.squeeze(-1)
                                * (first_moment - centres.transpose(0, 1) * mass)
                                ).transpose(0, 1)
            if ctx.needs_input_grad[2]:
                offsets = _exponent_offsets(centres, pixels)
                grad_inv = -grad_exponent.mul_(offsets.square_()).sum(-1)  # (2, B, N)
                grad_inv = (grad_inv.sum((0, 1)).unsqueeze(-1) if inv_two_var.dim()
                            else grad_inv.sum())
        return grad_centres, grad_weight, grad_inv, None


#: Each Gaussian is evaluated on the K x K pixels nearest its centre, with
#: K the smallest that holds every pixel within this many widths along x
#: and y: no value above exp(-4.5^2 / 2) = 4e-5 of the Gaussian's peak is
#: dropped.
TRUNCATION_SIGMAS = 4.5
#: The cut the training model's projections take (stage 1's image loss, in
#: training and in the final per-particle scores, and its pose screening):
#: 3 widths, K = 5 for an atom at 1.45 A per pixel. Within the 5 A band
#: the image loss compares, the images stay within 2e-3 of the untruncated
#: ones' largest value and the coordinate gradients within 1e-2 (relative
#: norm), far below the noise of a particle image, for 0.6 times the time
#: of 4.5 widths (K = 7) (``benchmarks/bench_render_speed.py``). Simulated
#: particles keep ``TRUNCATION_SIGMAS``.
TRAINING_TRUNCATION_SIGMAS = 3.0
#: Particles whose patches ``_TruncatedGaussianImage`` handles at once: the
#: temporaries of a chunk (a few MB) stay in cache and are reused by the
#: allocator instead of being mapped and faulted in anew at every step.
_PATCH_ELEMENTS_PER_CHUNK = 1 << 19
#: Cost of one patch pixel (forward and backward) over one pixel of the
#: dense product, per Gaussian, measured on one CPU core.
_PATCH_COST = 25


def _window_size(sigma, apix, D, widths=TRUNCATION_SIGMAS):
    """K, the pixels per side of the patch of nearest pixels that holds
    every pixel within ``widths`` widths of a Gaussian's centre
    (all those within K/2 pixels), or None when the dense product is the
    cheaper. On one CPU core a patch pixel costs about 25 times a pixel of
    the dense (D, D) product (``benchmarks/bench_render_speed.py``), so
    patches are used up to K = D / 5: at 1.45 A per pixel and 4.5 widths,
    for atoms (K = 7) from 35 px, for 2 A residues (K = 13) from 65 px."""
    widest = float(sigma.detach().max()) if isinstance(sigma, torch.Tensor) else float(sigma)
    reach = widths * widest / apix
    window = int(math.floor(2.0 * reach)) + 1
    return window if _PATCH_COST * window * window <= D * D else None


class _TruncatedGaussianImage(torch.autograd.Function):
    """``_SeparableGaussianImage`` with each Gaussian cut to its (K, K)
    patch: ``image[b, y, x] = sum_n w[b, n] gy[b, n, y] gx[b, n, x]`` over
    the K pixels ``y`` and the K pixels ``x`` nearest each centre.

    The patches are outer products of the truncated factors, summed into a
    padded image with one ``index_add_`` and read back from the padded
    gradient with one ``index_select``. Work is laid out (y, x, particle,
    atom) so every elementwise step runs along the atoms, and particles go
    through in chunks whose temporaries stay in cache. The forward pass
    keeps each chunk's patch indices (int32, one per patch pixel), offsets
    and factors for the backward pass instead of computing them again (65
    MB for B 128, N 1656, K 7, released by the backward pass): the pair of
    passes takes 5-10 % less time (D 64, one CPU core).
    """

    @staticmethod
    def forward(ctx, centres, weight, inv_two_var, D, apix, K):
        B, _, N = centres.shape
        ctx.weight_shape = weight.shape
        weight = weight.expand(B, N)
        pad = D + 2 * K
        # First of the K pixels nearest each centre, counted in the padded
        # image (B, 2, N); clamping keeps the patches of Gaussians outside
        # the box within the padding (where they are cut off with the tails).
        start = torch.floor(centres / apix - 0.5 * K).add_(D // 2 + K + 1)
        start = start.nan_to_num_(0.0).clamp_(0, D + K).to(torch.int32)
        image = centres.new_empty(B, D, D)
        # what the backward pass reads again, per chunk: the offsets, the
        # factors and the patches' indices (recomputing them costs more)
        kept = [] if any(ctx.needs_input_grad[:3]) else None
        for lo, hi in _chunks(B, N * K * K, pad):
            offsets = _window_offsets(centres[lo:hi], start[lo:hi], D, apix, K)
            factors = _window_factors(offsets, inv_two_var)
            gx, gy = factors
            patches = torch.mul((gy * weight[lo:hi]).unsqueeze(1), gx,
                                out=centres.new_empty(K, K, hi - lo, N))
            padded = centres.new_zeros((hi - lo) * pad * pad)
            index = _patch_index(start[lo:hi], pad, K)
            padded.index_add_(0, index.view(-1), patches.view(-1))
            image[lo:hi] = padded.view(hi - lo, pad, pad)[:, K:K + D, K:K + D]
            if kept is not None:
                kept.append((offsets, factors, index))
        ctx.kept = kept
        ctx.geometry = (D, apix, K)
        ctx.save_for_backward(centres, weight, inv_two_var, start)
        return image

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_image):
        centres, weight, inv_two_var, start = ctx.saved_tensors
        D, apix, K = ctx.geometry
        B, _, N = centres.shape
        pad = D + 2 * K
        grad_image = grad_image.to(centres.dtype)
        want_centres, want_weight, want_inv = ctx.needs_input_grad[:3]
        grad_centres = torch.empty_like(centres) if want_centres else None
        grad_weight = torch.empty_like(weight) if want_weight else None
        grad_inv = torch.zeros_like(inv_two_var) if want_inv else None
        inv = inv_two_var.reshape(-1)                                   # (1,) or (N,)
        # the forward's tensors are released here; a second backward pass
        # through a retained graph computes them again
        kept, ctx.kept = ctx.kept, None
        for c, (lo, hi) in enumerate(_chunks(B, N * K * K, pad)):
            if kept is not None:
                offsets, (gx, gy), index = kept[c]
            else:
                offsets = _window_offsets(centres[lo:hi], start[lo:hi], D, apix, K)
                gx, gy = _window_factors(offsets, inv_two_var)
                index = _patch_index(start[lo:hi], pad, K)
            padded = grad_image.new_zeros(hi - lo, pad, pad)
            padded[:, K:K + D, K:K + D] = grad_image[lo:hi]
            grad_patches = padded.view(-1).index_select(0, index.view(-1)).view(index.shape)
            # t = grad * gy gx summed over the patch's x (for the y factors)
            # and y (for x): d loss / d exponent = w t, d exponent / d c = 2 k (p - c).
            grad_patches.mul_(gy.unsqueeze(1)).mul_(gx)
            sums = grad_patches.new_empty(2, K, hi - lo, N)
            torch.sum(grad_patches, 0, out=sums[0])
            torch.sum(grad_patches, 1, out=sums[1])
            if want_weight:
                grad_weight[lo:hi] = sums[1].sum(0)
            if want_centres or want_inv:
                grad_exponent = sums.mul_(weight[lo:hi])
                if want_inv:
                    grad_inv -= (grad_exponent * offsets.square()).sum((0, 1, 2)).view(
                        inv_two_var.shape) if inv_two_var.dim() else \
                        (grad_exponent * offsets.square()).sum()
                if want_centres:
                    grad_centres[lo:hi] = (grad_exponent.mul_(offsets).sum(1)
                                           * (2.0 * inv)).transpose(0, 1)
        if want_weight:
            grad_weight = grad_weight.sum_to_size(ctx.weight_shape)
        return grad_centres, grad_weight, grad_inv, None, None, None


def _chunks(B, elements_per_particle, pad):
    """``(lo, hi)`` ranges of particles holding about
    ``_PATCH_ELEMENTS_PER_CHUNK`` patch elements (and padded pixels) each."""
    step = max(1, _PATCH_ELEMENTS_PER_CHUNK // max(elements_per_particle, pad * pad))
    return [(lo, min(B, lo + step)) for lo in range(0, B, step)]


def _window_offsets(centres, start, D, apix, K):
    """``p - c`` (2, K, B, N) from each centre (B, 2, N) to the K pixels
    of its patch, which starts at pixel ``start`` (B, 2, N) of the image
    padded by K on each side."""
    first = (start - (K + D // 2)).to(centres.dtype).mul_(apix).sub_(centres)
    steps = torch.arange(K, device=centres.device, dtype=centres.dtype).mul_(apix)
    B, _, N = centres.shape
    return torch.add(first.transpose(0, 1).unsqueeze(1), steps.view(K, 1, 1),
                     out=centres.new_empty(2, K, B, N))


def _window_factors(offsets, inv_two_var):
    """Gaussian factors ``exp(-k (p - c)^2)`` (2, K, B, N) from the patch
    offsets ``p - c``; ``k`` is ``inv_two_var``, a scalar or per atom (N, 1)."""
    return (offsets.square().mul_(-inv_two_var.reshape(-1))
            .clamp_(min=_MIN_EXPONENT).exp_())


def _patch_index(start, pad, K):
    """Flat indices (K, K, B, N), laid out (y, x, particle, atom), of the
    patches' pixels in a stack of B padded (pad, pad) images."""
    B = start.shape[0]
    rows = torch.arange(B, device=start.device, dtype=start.dtype) * (pad * pad)
    corners = start[:, 1] * pad + start[:, 0] + rows.unsqueeze(-1)           # (B, N)
    steps = torch.arange(K, device=start.device, dtype=start.dtype)
    return corners + (steps.view(K, 1, 1, 1) * pad + steps.view(1, K, 1, 1))


def render_volume(coords, amplitudes, D, apix, sigma=2.0):
    """Density map (D, D, D) ``[z, y, x]`` of Gaussian pseudo-atoms.

    Amplitude per cubic Angstrom at voxel centres, built separably (a z-y
    slab per atom times the x factor) in chunks of atoms to bound memory.
    """
    if coords.dim() != 2 or coords.shape[-1] != 3:
        raise ValueError(f"coords must be (N, 3), got {tuple(coords.shape)}")
    inv_two_var, norm = _gaussian_factors(sigma, coords)
    if isinstance(inv_two_var, torch.Tensor):
        inv_two_var = inv_two_var[:, None, None]      # (N, 1, 1)
    pixels = pixel_coordinates(D, apix, coords.device, coords.dtype)
    exponent = (pixels - coords.unsqueeze(-1)).square() * -inv_two_var
    factors = exponent.clamp(min=_MIN_VOLUME_EXPONENT).exp()  # (N, 3, D)
    gx, gy, gz = factors.unbind(1)                    # (N, D) each
    gz = gz * (_as_like(amplitudes, coords) * norm ** 1.5).unsqueeze(-1)
    volume = torch.zeros(D * D, D, dtype=coords.dtype, device=coords.device)
    chunk = max(1, _RENDER_ELEMENTS_PER_CHUNK // (D * D))
    for start in range(0, coords.shape[0], chunk):
        stop = start + chunk
        slab = (gz[start:stop, :, None] * gy[start:stop, None, :]).reshape(-1, D * D)
        volume = volume + slab.T @ gx[start:stop]
    return volume.reshape(D, D, D)


# ---------------------------------------------------------------- real maps

def project_volume(volume, rotations, apix, shifts=None):
    """Line-integral projections (B, D, D) of a map (D, D, D) ``[z, y, x]``.

    Same pose convention as ``project_gaussians``: the rotated map is sampled
    trilinearly at the image-frame voxel centres and summed along z (times
    ``apix``); origins shift the result by ``-origin`` in Fourier space.
    """
    if volume.dim() != 3 or len(set(volume.shape)) != 1:
        raise ValueError(f"volume must be a cube (D, D, D), got {tuple(volume.shape)}")
    D = volume.shape[0]
    rotations = _as_like(rotations, volume)
    if rotations.dim() != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f"rotations must be (B, 3, 3), got {tuple(rotations.shape)}")
    axis = pixel_coordinates(D, 1.0, volume.device, volume.dtype)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    image_points = torch.stack([x, y, z], dim=-1).reshape(-1, 3)   # in pixels
    scale = 2.0 / (D - 1)   # align_corners=True: index 0 -> -1, D-1 -> +1
    offset = D // 2 * scale - 1.0
    source = volume[None, None]
    chunk = max(1, _VOLUME_SAMPLES_PER_CHUNK // D ** 3)
    images = []
    for start in range(0, rotations.shape[0], chunk):
        rot = rotations[start:start + chunk]
        # x_model = A^T x_image; row vectors: x_image @ A.
        model_points = torch.matmul(image_points, rot)             # (b, D^3, 3)
        grid = (model_points * scale + offset).reshape(-1, D, D, D, 3)
        sampled = F.grid_sample(source.expand(rot.shape[0], -1, -1, -1, -1), grid,
                                mode="bilinear", padding_mode="zeros",
                                align_corners=True)
        images.append(sampled[:, 0].sum(dim=1) * apix)
    images = torch.cat(images)
    if shifts is not None:
        images = fourier_shift(images, -_as_like(shifts, images), apix)
    return images


# ---------------------------------------------------------------------- CTF

def fourier_frequencies(D, apix, rfft=True, device=None, dtype=torch.float32):
    """Spatial frequencies ``(fy, fx)`` in 1/Angstrom, FFT layout (no shift).

    Shapes (D, 1) and (1, D//2 + 1) for ``rfft2`` output, (1, D) with
    ``rfft=False``; they broadcast to the transform's shape.
    """
    fy = torch.fft.fftfreq(D, d=apix, device=device, dtype=dtype)
    if rfft:
        fx = torch.fft.rfftfreq(D, d=apix, device=device, dtype=dtype)
    else:
        fx = fy.clone()
    return fy[:, None], fx[None, :]


def electron_wavelength(voltage_kv):
    """Relativistic electron wavelength in Angstrom at ``voltage_kv`` kilovolts.

    ``h / sqrt(2 m e V (1 + e V / (2 m c^2)))`` with the constants folded in
    double precision first, so float32 tensors do not underflow.
    """
    c = scipy.constants
    scale = c.h / math.sqrt(2.0 * c.m_e * c.e) * 1e10       # Angstrom sqrt(V)
    correction = c.e / (2.0 * c.m_e * c.c ** 2)             # 1 / V
    volts = voltage_kv * 1e3
    sqrt = torch.sqrt if isinstance(volts, torch.Tensor) else np.sqrt
    return scale / sqrt(volts * (1.0 + correction * volts))


def ctf_value(fy, fx, ctf_params):
    """CTF at frequencies ``(fy, fx)`` (1/Angstrom) for parameters (..., 8).

    RELION's form: ``sqrt(1 - w^2) sin(gamma) + w cos(gamma)`` times
    ``exp(-B s^2 / 4)``, with ``gamma = pi lambda df s^2 - pi/2 Cs lambda^3 s^4
    + phase_shift`` and ``df = (dfu + dfv)/2 + (dfu - dfv)/2 cos(2 (alpha -
    defocus_angle))`` the defocus along the frequency direction ``alpha``.
    Output shape: the parameters' batch shape followed by the broadcast
    shape of ``fy`` and ``fx``.
    """
    ctf_params = _check_ctf_params(ctf_params)
    fy = _as_like(fy, ctf_params)
    fx = _as_like(fx, ctf_params)
    n_freq_dims = max(fy.dim(), fx.dim())
    columns = ctf_params.reshape(ctf_params.shape[:-1] + (1,) * n_freq_dims
                                 + ctf_params.shape[-1:])
    return _ctf(fy, fx, columns)


def _check_ctf_params(ctf_params):
    ctf_params = torch.as_tensor(ctf_params)
    if ctf_params.shape[-1:] != (len(CTF_COLUMNS),):
        raise ValueError(f"CTF parameters must have {len(CTF_COLUMNS)} columns "
                         f"{CTF_COLUMNS}, got shape {tuple(ctf_params.shape)}")
    if not ctf_params.is_floating_point():
        ctf_params = ctf_params.to(torch.get_default_dtype())
    return ctf_params


def _ctf(fy, fx, columns):
    """The CTF formula; ``columns`` (..., 8) broadcasts against ``fy``, ``fx``."""
    dfu, dfv, angle, voltage, cs, w, phase_shift, bfactor = columns.unbind(-1)
    s2 = fy * fy + fx * fx
    direction = torch.atan2(fy, fx)
    defocus = 0.5 * (dfu + dfv) + 0.5 * (dfu - dfv) * torch.cos(
        2.0 * (direction - torch.deg2rad(angle)))
    wavelength = electron_wavelength(voltage)
    gamma = (math.pi * wavelength * defocus * s2
             - 0.5 * math.pi * (cs * 1e7) * wavelength ** 3 * s2 * s2
             + torch.deg2rad(phase_shift))
    ctf = torch.sqrt(1.0 - w * w) * torch.sin(gamma) + w * torch.cos(gamma)
    return ctf * torch.exp(-0.25 * bfactor * s2)


def compute_ctf(ctf_params, D, apix, rfft=True):
    """CTF images (B, D, D//2 + 1) (or (B, D, D)) in FFT layout.

    ``apix`` is a float or a (B,) array of per-particle pixel sizes.
    """
    ctf_params = _check_ctf_params(ctf_params)
    if ctf_params.dim() != 2:
        raise ValueError(f"CTF parameters must be (B, 8), got {tuple(ctf_params.shape)}")
    fy, fx = fourier_frequencies(D, 1.0, rfft, ctf_params.device, ctf_params.dtype)
    if np.ndim(apix) == 0:
        return ctf_value(fy / float(apix), fx / float(apix), ctf_params)
    inv_apix = 1.0 / _as_like(apix, ctf_params).reshape(-1, 1, 1)
    return _ctf(fy * inv_apix, fx * inv_apix, ctf_params[:, None, None, :])


def apply_ctf(images, ctf):
    """Images (B, D, D) filtered by a CTF in ``rfft2`` layout (B, D, D//2 + 1)."""
    spectrum = torch.fft.rfft2(images) * ctf
    return torch.fft.irfft2(spectrum, s=images.shape[-2:])


def crop_spectrum(spectrum, box):
    """``rfft2`` coefficients (..., D, D//2 + 1) cropped to those of a
    (box, box) image (..., box, box//2 + 1): the same frequencies, the
    highest ``D`` lacks dropped. ``box`` even and at most ``D``."""
    D = spectrum.shape[-2]
    if box == D:
        return spectrum
    h = box // 2
    return torch.cat([spectrum[..., :h, :h + 1], spectrum[..., D - h:, :h + 1]], -2)


def fourier_crop(images, box):
    """Images (..., D, D) downsampled to (..., box, box) by keeping their
    lowest Fourier coefficients (:func:`crop_spectrum`), the mean
    preserved: exact for images with nothing above the new Nyquist
    frequency. The torch counterpart of ``particles.stacks.fourier_crop``;
    ``box`` even and at most ``D`` (``D`` itself returns ``images``)."""
    D = images.shape[-1]
    if box == D:
        return images
    spectrum = crop_spectrum(torch.fft.rfft2(images), box)
    return torch.fft.irfft2(spectrum, s=(box, box)) * (box * box / float(D * D))


# ------------------------------------------------------- shifts and masks

def fourier_shift(images, shifts, apix):
    """Images (B, D, D) translated by ``+shifts`` (B, 2) ``(x, y)`` Angstrom.

    A phase ramp in Fourier space: exact and periodic (content leaving one
    edge re-enters at the other).
    """
    height, width = images.shape[-2:]
    if height != width:
        raise ValueError(f"images must be square, got {tuple(images.shape[-2:])}")
    shifts = _as_like(shifts, images)
    fy, fx = fourier_frequencies(width, apix, True, images.device, images.dtype)
    phase = -2.0 * math.pi * (fx * shifts[:, 0, None, None] + fy * shifts[:, 1, None, None])
    ramp = torch.polar(torch.ones_like(phase), phase)
    return torch.fft.irfft2(torch.fft.rfft2(images) * ramp, s=(height, width))


def lowpass_mask(D, apix, bandwidth_A, rfft=True, device=None):
    """Boolean Fourier mask keeping ``|s| <= 1 / bandwidth_A``, FFT layout."""
    fy, fx = fourier_frequencies(D, apix, rfft, device, torch.float64)
    return fy * fy + fx * fx <= 1.0 / float(bandwidth_A) ** 2


def resolution_element(low_pass, apix):
    """The area (pixels of ``apix`` Angstrom) of one resolution element of
    a low-pass of ``low_pass`` Angstrom: a disk of that diameter (of two
    pixels when the low-pass is finer than Nyquist). An image loss over
    fewer pixels compares one number at most: the least loss area a run
    accepts (the loss circle, a focus mask's projection)."""
    diameter = max(float(low_pass), 2.0 * float(apix)) / float(apix)
    return math.pi * diameter * diameter / 4.0


def apply_fourier_mask(images, mask):
    """Images (..., D, D) with their Fourier transform multiplied by ``mask``.

    The mask is in ``rfft2`` layout (D, D//2 + 1) or full ``fft2`` layout
    (D, D); a Hermitian-symmetric mask gives a real result either way.
    """
    height, width = images.shape[-2:]
    mask = mask.to(device=images.device)
    if mask.shape[-1] == width // 2 + 1:
        return torch.fft.irfft2(torch.fft.rfft2(images) * mask, s=(height, width))
    if mask.shape[-2:] == (height, width):
        return torch.fft.ifft2(torch.fft.fft2(images) * mask).real
    raise ValueError(f"Fourier mask of shape {tuple(mask.shape)} does not fit "
                     f"images of shape {(height, width)}")


def circular_mask(D, radius_fraction=0.9375, device=None):
    """Boolean disk (D, D) of radius ``radius_fraction * D/2`` around pixel
    ``(D//2, D//2)``."""
    axis = torch.arange(D, device=device, dtype=torch.float64) - D // 2
    radius = radius_fraction * D / 2.0
    return axis[:, None] ** 2 + axis[None, :] ** 2 <= radius ** 2


# ------------------------------------------------------- in-plane alignment

def in_plane_angles(rotations):
    """In-plane angle (B,) radians of poses ``rotations`` (B, 3, 3) RELION
    ``A``: the direction of the model's x axis in the image,
    ``atan2(A[1, 0], A[0, 0])``. Turning an image by minus this angle gives
    the view ``R(-angle) A``, whose model x axis projects onto the image's
    +x; it is undefined only where that axis is the viewing direction."""
    return torch.atan2(rotations[..., 1, 0], rotations[..., 0, 0])


def in_plane_aligned(images, rotations, shifts, apix, angles=None, fill=0.0):
    """Images (B, D, D) resampled so that each particle sits at the box
    centre and its model's x axis points along the image's +x.

    ``rotations`` (B, 3, 3) RELION ``A`` and ``shifts`` (B, 2) origins
    ``(ox, oy)`` in Angstrom, as :func:`project_gaussians` takes them;
    ``apix`` the images' pixel size; ``angles`` (B,) radians, if given,
    replace :func:`in_plane_angles`. Output pixel ``q`` (Angstrom from the
    centre) takes the input at ``R(angle) q - origin``, bilinearly
    interpolated; pixels outside the circle of radius D/2 are set to
    ``fill``. With ``A0 = R(-angle) A`` the result is the projection with
    pose ``A0`` and no shift, up to interpolation (about 3 % of the image's
    norm for atoms 1.4 pixels wide).
    """
    if images.dim() != 3 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be (B, D, D), got {tuple(images.shape)}")
    D = images.shape[-1]
    rotations = _as_like(rotations, images)
    shifts = _as_like(shifts, images)
    angle = in_plane_angles(rotations) if angles is None else _as_like(angles, images)
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    q = pixel_coordinates(D, 1.0, images.device, images.dtype)
    qy, qx = torch.meshgrid(q, q, indexing="ij")
    px = c * qx - s * qy - shifts[:, 0, None, None] / apix      # input pixels
    py = s * qx + c * qy - shifts[:, 1, None, None] / apix
    scale = 2.0 / (D - 1)   # align_corners=True: index 0 -> -1, D-1 -> +1
    grid = torch.stack([(px + D // 2) * scale - 1.0, (py + D // 2) * scale - 1.0], -1)
    out = F.grid_sample((images - fill).unsqueeze(1), grid, mode="bilinear",
                        padding_mode="zeros", align_corners=True).squeeze(1)
    inside = (qx.square() + qy.square()) <= (D / 2) ** 2
    return out.mul_(inside).add_(fill)
