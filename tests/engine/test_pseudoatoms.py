"""Tests of cryostar_boltz.engine.pseudoatoms: centroid rendering."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.losses import correlation_loss
from cryostar_boltz.engine.models import StructureVAE
from cryostar_boltz.engine.pseudoatoms import (frame_neighbours, render_points,
                                               render_positions, residue_centroids)
from cryostar_boltz.engine.structure import atom_positions, load_structure


@pytest.fixture(scope="module")
def closed(adk_dir):
    model = load_structure(adk_dir / "adk_closed.pdb")
    return model.translated(-model.coords.mean(0))


def as_tensors(points):
    """``render_positions`` arguments after the coordinates."""
    return (torch.as_tensor(points.frame_a), torch.as_tensor(points.frame_b),
            torch.as_tensor(points.offsets, dtype=torch.float32),
            torch.as_tensor(points.owner))


def test_neighbours_stay_in_their_segment():
    segments = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    a, b, valid = frame_neighbours(segments)
    assert a.tolist()[:4] == [1, 0, 1, 2] and b.tolist()[:4] == [2, 2, 3, 1]
    assert a[6] == 7 and b[6] == 8 and a[8] == 7 and b[8] == 6
    # a two-residue segment has no frame: rendered at its CA
    assert valid.tolist() == [True] * 4 + [False] * 2 + [True] * 3
    assert np.all(segments[a] == segments) and np.all(segments[b] == segments)


def test_reference_renders_at_its_centroids_and_moves_rigidly(closed):
    args = as_tensors(render_points(closed, "centroid"))
    centroids = residue_centroids(closed)
    mean_offset = np.linalg.norm(centroids - closed.coords, axis=1).mean()
    assert 0.8 < mean_offset < 2.0
    coords = torch.as_tensor(closed.coords, dtype=torch.float32)
    assert np.allclose(render_positions(coords, *args).numpy(), centroids, atol=1e-4)
    rotation = Rotation.random(random_state=3).as_matrix()
    moved = torch.as_tensor(closed.coords @ rotation.T + [4.0, -2.0, 7.0], dtype=torch.float32)
    expected = centroids @ rotation.T + [4.0, -2.0, 7.0]
    batch = torch.stack([coords, moved])
    assert np.allclose(render_positions(batch, *args)[1].numpy(), expected, atol=1e-4)


def test_centroids_match_an_all_atom_image_better_than_cas(closed):
    """The bias the centroid removes: at the true structure, an image of its
    heavy atoms correlates better with centroid than with CA Gaussians."""
    heavy, z = closed.heavy_atoms()
    rotations = torch.as_tensor(Rotation.random(8, random_state=0).as_matrix(), dtype=torch.float32)
    D, apix = 48, 1.5
    truth = imaging.project_gaussians(torch.as_tensor(heavy, dtype=torch.float32),
                                      torch.as_tensor(z, dtype=torch.float32),
                                      rotations, D, apix, sigma=0.8)
    lowpass = imaging.lowpass_mask(D, apix, 5.0)
    observed = imaging.apply_fourier_mask(truth, lowpass)
    amplitudes = torch.as_tensor(closed.amplitudes, dtype=torch.float32)
    ca = torch.as_tensor(closed.coords, dtype=torch.float32)
    centroid = render_positions(ca, *as_tensors(render_points(closed, "centroid")))
    losses = {}
    for name, points in (("ca", ca), ("centroid", centroid)):
        image = imaging.project_gaussians(points, amplitudes, rotations, D, apix, sigma=2.0)
        losses[name] = correlation_loss(imaging.apply_fourier_mask(image, lowpass),
                                        observed).mean().item()
    assert losses["centroid"] < losses["ca"] - 0.002


def test_vae_renders_centroids_and_round_trips(closed):
    vae = StructureVAE(16, closed.coords, closed.amplitudes, encoder_hidden=(32,),
                       decoder_hidden=(32,), render_points=render_points(closed, "centroid"))
    assert vae.config["pseudo_atoms"] == "centroid"
    coords = vae.decode(torch.zeros(2, 8))
    rendered = vae.render_coords(coords)
    assert np.allclose(rendered[0].detach().numpy(), residue_centroids(closed), atol=1e-4)
    copy = StructureVAE.from_config(vae.config)
    copy.load_state_dict(vae.state_dict())
    assert torch.equal(copy.render_coords(coords), rendered)
    plain = StructureVAE(16, closed.coords, closed.amplitudes, encoder_hidden=(32,),
                         decoder_hidden=(32,))
    assert plain.config["pseudo_atoms"] == "ca"
    assert plain.render_coords(coords) is coords
    # gradients reach the decoder through the frames
    z = torch.zeros(2, 8, requires_grad=True)
    vae.render_coords(vae.decode(z)).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_atom_rendering_carries_every_heavy_atom(closed):
    points = render_points(closed, "atoms")
    heavy, z = closed.heavy_atoms()
    assert points.offsets.shape == heavy.shape and np.array_equal(points.amplitudes, z)
    coords = torch.as_tensor(closed.coords, dtype=torch.float32)
    args = as_tensors(points)
    assert np.allclose(render_positions(coords, *args).numpy(), heavy, atol=1e-4)
    rotation = Rotation.random(random_state=5).as_matrix()
    moved = torch.as_tensor(closed.coords @ rotation.T, dtype=torch.float32)
    assert np.allclose(render_positions(moved[None], *args)[0].numpy(),
                       heavy @ rotation.T, atol=1e-4)
    vae = StructureVAE(16, closed.coords, closed.amplitudes, encoder_hidden=(32,),
                       decoder_hidden=(32,), render_points=points)
    copy = StructureVAE.from_config(vae.config)
    copy.load_state_dict(vae.state_dict())
    decoded = copy.decode(torch.zeros(1, 8))
    assert copy.config["pseudo_atoms"] == "atoms"
    assert np.allclose(copy.render_coords(decoded)[0].detach().numpy(), heavy, atol=1e-4)
    assert torch.equal(copy.render_amplitudes, torch.as_tensor(z, dtype=torch.float32))
    # a learnable width is the width of the residue carrying the atom
    learned = StructureVAE(16, closed.coords, closed.amplitudes, learn_sigma=True,
                           sigma=1.5, render_points=points)
    with torch.no_grad():
        learned.log_sigma.copy_(torch.log(torch.arange(1.0, closed.n + 1)))
    assert torch.allclose(learned.sigma, torch.as_tensor(points.owner + 1.0, dtype=torch.float32))
    with pytest.raises(ValueError, match="pseudo_atoms"):
        render_points(closed, "cb")


def test_carried_points_match_the_frame_product_and_its_gradient(closed):
    """The packed gather of ``render_positions`` gives the values and
    coordinate gradients of the plain ``frames[owner] @ offsets`` product,
    for a batch, several leading axes and one structure."""
    from cryostar_boltz.engine.pseudoatoms import local_frames
    a, b, offsets, owner = as_tensors(render_points(closed, "atoms"))
    offsets = offsets.double()
    gen = torch.Generator().manual_seed(0)
    base = torch.as_tensor(closed.coords)
    for lead in ((3,), (2, 2), ()):
        coords = (base + torch.randn(lead + base.shape, generator=gen, dtype=torch.float64)
                  ).requires_grad_()
        weights = torch.randn(lead + (len(owner), 3), generator=gen, dtype=torch.float64)
        got = render_positions(coords, a, b, offsets, owner)
        (got * weights).sum().backward()
        grad = coords.grad.clone()
        coords.grad = None
        # the frames written out with torch's own cross product and norms
        u = coords[..., a, :] - coords
        v = coords[..., b, :] - coords
        e1 = u / (u.norm(dim=-1, keepdim=True) + 1e-6)
        v = v - (v * e1).sum(-1, keepdim=True) * e1
        e2 = v / (v.norm(dim=-1, keepdim=True) + 1e-6)
        frames = torch.stack([e1, e2, torch.cross(e1, e2, dim=-1)], dim=-1)
        assert torch.allclose(local_frames(coords, a, b), frames, atol=1e-12)
        frames = frames[..., owner, :, :]
        want = coords[..., owner, :] + torch.einsum("...pij,pj->...pi", frames, offsets)
        (want * weights).sum().backward()
        assert got.shape == lead + (len(owner), 3)
        assert torch.allclose(got, want, atol=1e-10)
        assert torch.allclose(grad, coords.grad, atol=1e-9)


def test_numpy_and_tensor_frames_agree(closed):
    from cryostar_boltz.engine.pseudoatoms import local_frames
    a, b, _ = frame_neighbours(closed.segment_index)
    coords = closed.coords + np.random.default_rng(2).normal(size=(2, closed.n, 3))
    tensor = local_frames(torch.as_tensor(coords), torch.as_tensor(a), torch.as_tensor(b))
    assert np.abs(local_frames(coords, a, b) - tensor.numpy()).max() < 1e-12


def test_written_atoms_sit_where_training_renders_them(closed):
    """The full-atom outputs place each heavy atom where ``atoms`` rendering
    puts its Gaussian, for any decoded trace."""
    points = render_points(closed, "atoms")
    coords = closed.coords + np.random.default_rng(5).normal(scale=1.5, size=(3, closed.n, 3))
    rendered = render_positions(torch.as_tensor(coords), torch.as_tensor(points.frame_a),
                                torch.as_tensor(points.frame_b),
                                torch.as_tensor(points.offsets), torch.as_tensor(points.owner))
    heavy = np.flatnonzero(closed.atoms.atomic_numbers > 1)
    assert np.abs(atom_positions(closed, coords)[:, heavy] - rendered.numpy()).max() < 1e-4
