"""Rigid-domain decoder and held residues (engine/domain_decoder.py, models.py)."""
import numpy as np
import torch

from cryostar_boltz.engine.domain_decoder import RigidDomainDecoder, rotation_from_6d
from cryostar_boltz.engine.models import DeformationDecoder, StructureVAE


def _coords(n=12, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).normal(0, 10, (n, 3)),
                           dtype=torch.float32)


def test_6d_representation_gives_rotations():
    values = torch.randn(50, 6)
    r = rotation_from_6d(values)
    eye = torch.eye(3).expand(50, -1, -1)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(50), atol=1e-5)
    assert torch.equal(rotation_from_6d(torch.tensor([1., 0, 0, 0, 1, 0])), torch.eye(3))


def test_fresh_decoder_outputs_the_reference():
    labels = torch.tensor([0] * 4 + [1] * 4 + [-1] * 4)
    decoder = RigidDomainDecoder(_coords(), labels, input_dim=3, hidden=(8,))
    assert decoder.n_domains == 2
    assert torch.equal(decoder(torch.randn(5, 3)), torch.zeros(5, 12, 3))


def test_each_domain_moves_rigidly_and_held_residues_stay():
    torch.manual_seed(0)
    coords = _coords()
    labels = torch.tensor([0] * 4 + [1] * 4 + [-1] * 4)
    decoder = RigidDomainDecoder(coords, labels, input_dim=3, hidden=(8,))
    torch.nn.init.normal_(decoder.out.weight, std=0.5)
    z = torch.randn(6, 3)
    moved = coords + decoder(z)
    rotations, translations = decoder.transforms(z)
    for k in (0, 1):
        part = coords[labels == k]
        centroid = part.mean(0)
        expected = (part - centroid) @ rotations[:, k].transpose(1, 2) + centroid \
            + translations[:, k, None]
        assert torch.allclose(moved[:, labels == k], expected, atol=1e-4)
        pair = torch.cdist(moved[:, labels == k], moved[:, labels == k])
        assert torch.allclose(pair, torch.cdist(part, part).expand_as(pair), atol=1e-3)
    assert torch.equal(moved[:, 8:], coords[8:].expand(6, -1, -1))


def test_free_decoder_holds_the_residues_outside_the_selection():
    moving = np.array([True] * 5 + [False] * 7)
    decoder = DeformationDecoder(12, 3, (8,), moving=moving)
    torch.nn.init.normal_(decoder.out.weight)
    out = decoder(torch.randn(4, 3))
    assert (out[:, 5:] == 0).all() and (out[:, :5] != 0).all()


def test_vae_with_domains_and_held_residues_round_trips_its_config():
    coords = _coords()
    labels = np.array([0] * 4 + [1] * 4 + [2] * 4)
    moving = np.arange(12) < 10
    vae = StructureVAE(16, coords, torch.ones(12), latent_dim=3, encoder_hidden=(8,),
                       decoder_hidden=(8,), moving=moving, domain_labels=labels)
    assert vae.config["motion"] == "domains" and vae.config["n_domains"] == 3
    assert vae.config["held"] is True
    torch.nn.init.normal_(vae.decoder.out.weight)
    copy = StructureVAE.from_config(vae.config)
    copy.load_state_dict(vae.state_dict())
    z = torch.randn(3, 3)
    assert torch.equal(copy.decode(z), vae.decode(z))
    assert torch.equal(vae.decode(z)[:, 10:], coords[10:].expand(3, -1, -1))
    free = StructureVAE(16, coords, torch.ones(12), latent_dim=3, encoder_hidden=(8,),
                        decoder_hidden=(8,), moving=moving)
    copy = StructureVAE.from_config(free.config)
    copy.load_state_dict(free.state_dict())
    assert torch.equal(copy.decoder.moving, free.decoder.moving)


def test_a_run_without_focus_keeps_its_state_dict_keys():
    vae = StructureVAE(16, _coords(), torch.ones(12), latent_dim=3,
                       encoder_hidden=(8,), decoder_hidden=(8,))
    assert not any("moving" in key for key in vae.state_dict())
    old_config = {k: v for k, v in vae.config.items()
                  if k not in ("motion", "n_domains", "held")}
    StructureVAE.from_config(old_config).load_state_dict(vae.state_dict())
