"""Tests of cryostar_boltz.engine.models: encoder, deformation decoder, StructureVAE."""
import json

import pytest
import torch

from cryostar_boltz.engine.models import (DeformationDecoder, ImageEncoder, StructureVAE,
                                          reference_init, reparameterize)

D, N, LATENT = 16, 30, 8


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)


def small_vae(**kwargs):
    torch.manual_seed(1)
    ref = torch.randn(N, 3) * 10
    return StructureVAE(D, ref, torch.rand(N) + 1, encoder_hidden=(64, 32),
                        decoder_hidden=(32, 64), **kwargs)


def test_decoder_starts_at_exactly_zero_displacement(generator):
    decoder = DeformationDecoder(N, LATENT)
    z = torch.randn(64, LATENT, generator=generator) * 10
    out = decoder(z)
    assert out.shape == (64, N, 3)
    assert torch.count_nonzero(out) == 0


def test_vae_decodes_reference_before_training(generator):
    vae = small_vae()
    coords = vae.decode(torch.randn(5, LATENT, generator=generator))
    assert torch.equal(coords, vae.ref_coords.expand(5, N, 3))


def test_reference_init_drives_random_decoder_to_zero(generator):
    torch.manual_seed(2)
    decoder = DeformationDecoder(N, LATENT, hidden=(32, 64))
    torch.nn.init.normal_(decoder.out.weight, std=0.2)
    torch.nn.init.normal_(decoder.out.bias, std=0.2)
    with torch.no_grad():
        start = decoder(torch.randn(256, LATENT)).square().mean().item()
    assert start > 1e-2
    final = reference_init(decoder, LATENT, steps=2000, tol=1e-3, generator=generator)
    assert final < 1e-3


def test_reference_init_rejects_bad_arguments():
    with pytest.raises(ValueError):
        reference_init(DeformationDecoder(N, LATENT), LATENT, steps=10, tol=0)


@pytest.mark.parametrize("extra_dim", [0, 5])
def test_encoder_shapes(extra_dim, generator):
    encoder = ImageEncoder(D, LATENT, hidden=(64, 32), extra_dim=extra_dim)
    mu, logvar, extra = encoder(torch.randn(7, D, D, generator=generator))
    assert mu.shape == logvar.shape == (7, LATENT)
    if extra_dim:
        assert extra.shape == (7, extra_dim)
    else:
        assert extra is None


def test_shape_errors():
    with pytest.raises(ValueError, match="expected images"):
        ImageEncoder(D)(torch.zeros(2, D + 1, D + 1))
    with pytest.raises(ValueError, match="expected z"):
        DeformationDecoder(N, LATENT)(torch.zeros(2, LATENT + 1))
    with pytest.raises(ValueError, match="amplitudes"):
        StructureVAE(D, torch.zeros(N, 3), torch.zeros(N + 1))


def test_input_scale_makes_encoder_affine_invariant(generator):
    encoder = ImageEncoder(D, LATENT, hidden=(64, 32))
    images = torch.randn(4, D, D, generator=generator)
    expected = encoder(images)[0]
    mean, std = encoder.fit_input_scale(images * 250.0 + 1000.0)
    assert mean == pytest.approx(images.mean().item() * 250 + 1000, rel=1e-4)
    encoder.set_input_scale(1000.0, 250.0)
    torch.testing.assert_close(encoder(images * 250.0 + 1000.0)[0], expected, rtol=1e-4, atol=1e-4)
    assert "input_std" in encoder.state_dict()
    with pytest.raises(ValueError):
        encoder.set_input_scale(0.0, 0.0)


def test_gradients_reach_every_parameter(generator):
    """The zero output layer gets gradient at once; after one step, every layer does."""
    vae = small_vae(extra_dim=3, learn_sigma=True)
    images = torch.randn(8, D, D, generator=generator)
    optimiser = torch.optim.SGD(vae.parameters(), lr=0.1)

    def loss_fn():
        coords, mu, logvar, extra = vae(images, sample=True)
        return (coords.square().mean() + logvar.exp().mean() + extra.square().mean()
                + (vae.sigma - 3).square().mean())

    loss_fn().backward()
    assert vae.decoder.out.weight.grad.abs().sum() > 0
    optimiser.step()
    optimiser.zero_grad()
    loss_fn().backward()
    for name, param in vae.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_reparameterize_is_differentiable_and_centred():
    mu = torch.zeros(20000, 2, requires_grad=True)
    logvar = torch.full((20000, 2), 2 * torch.log(torch.tensor(3.0)).item(), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert z.std().item() == pytest.approx(3.0, rel=0.03)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_eval_mode_decodes_posterior_mean(generator):
    vae = small_vae().eval()
    images = torch.randn(3, D, D, generator=generator)
    with torch.no_grad():
        vae.decoder.out.bias.normal_()
        coords, mu, _, _ = vae(images)
        torch.testing.assert_close(coords, vae.decode(mu))


def test_config_round_trip_rebuilds_the_same_model(generator):
    vae = small_vae(learn_sigma=True, sigma=1.5)
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.01)
    vae.encoder.set_input_scale(3.0, 2.0)
    config = json.loads(json.dumps(vae.config))
    rebuilt = StructureVAE.from_config(config)
    rebuilt.load_state_dict(vae.state_dict())
    images = torch.randn(4, D, D, generator=generator)
    vae.eval(), rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(images)[0], vae(images)[0], rtol=0, atol=0)
    assert rebuilt.sigma.shape == (N,)
    assert config["n_residues"] == N and config["D"] == D


def test_fixed_sigma_is_a_float():
    vae = small_vae(sigma=2.5)
    assert vae.sigma == 2.5
    assert not any("sigma" in name for name, _ in vae.named_parameters())
    with pytest.raises(ValueError, match="lacks"):
        StructureVAE.from_config({"D": D})


def test_decoder_input_dim_can_differ_from_latent_dim(generator):
    vae = small_vae(decoder_input_dim=LATENT + 4)
    assert vae.decode(torch.randn(2, LATENT + 4, generator=generator)).shape == (2, N, 3)
    rebuilt = StructureVAE.from_config(vae.config)
    assert rebuilt.decoder.input_dim == LATENT + 4

