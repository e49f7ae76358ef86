"""The shared loop's pieces (training/loop.py) that need no training run;
the loop itself is exercised by the stage tests."""
import os

import pytest
import torch

from cryostar_boltz.engine import io
from cryostar_boltz.engine.training.loop import save_torch


def test_save_torch_round_trips_and_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    save_torch(path, {"step": 3, "weights": torch.arange(4.0)})
    state = torch.load(path, weights_only=False)
    assert state["step"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    # a kill between writing and renaming keeps the old file and no temporary
    real_replace = os.replace
    monkeypatch.setattr(io.os, "replace",
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_torch(path, {"step": 4})
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert torch.load(path, weights_only=False)["step"] == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_adamw_is_fused_on_a_cpu_and_steps_as_the_default_one():
    from cryostar_boltz.engine.training.loop import adamw, gradients_finite
    torch.manual_seed(0)
    weights = [torch.randn(40, 30, requires_grad=True), torch.randn(30, requires_grad=True)]
    copies = [w.detach().clone().requires_grad_() for w in weights]
    fused = adamw(weights, "cpu", lr=1e-2, weight_decay=0.01)
    plain = torch.optim.AdamW(copies, lr=1e-2, weight_decay=0.01)
    assert fused.param_groups[0]["fused"] is True
    for _ in range(5):
        grads = [torch.randn_like(w) for w in weights]
        for w, c, g in zip(weights, copies, grads):
            w.grad, c.grad = g.clone(), g.clone()
        fused.step()
        plain.step()
    for w, c in zip(weights, copies):
        assert torch.allclose(w, c, atol=1e-6)
    assert gradients_finite(weights)
    weights[1].grad[3] = float("nan")
    assert not gradients_finite(weights)
    weights[1].grad[3] = float("inf")
    assert not gradients_finite(weights)


def test_a_long_run_keeps_at_most_twenty_epoch_copies():
    from types import SimpleNamespace

    from cryostar_boltz.engine.training.loop import EpochTrainer

    def kept(epochs):
        trainer = SimpleNamespace(cfg=SimpleNamespace(epochs=epochs))
        return [e for e in range(1, epochs + 1) if EpochTrainer.keeps_epoch(trainer, e)]
    assert kept(20) == list(range(1, 21))
    assert kept(200) == list(range(10, 201, 10))
    assert kept(66) == [4 * k for k in range(1, 17)] + [66]
