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
