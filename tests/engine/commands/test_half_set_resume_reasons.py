"""train --resume --half-sets with another --epochs: each half's reason for
the KL warm-up, which quotes the full set's, follows the new length in
both of its clauses (the full set's quoted one kept the old length)."""
import json

import numpy as np

from cryostar_boltz.engine.cli import main
from cryostar_boltz.engine.particles import load_particles


def warmup_reason(run):
    return json.loads((run / "config.json").read_text())["derived"]["kl_warmup"]


def test_resumed_halves_restate_the_full_sets_warmup_for_the_new_length(
        tiny_dataset, train_options, tmp_path, capsys):
    import torch
    torch.set_num_threads(1)
    subset = np.asarray(load_particles(tiny_dataset.star).table["rlnRandomSubset"],
                        dtype=float).astype(int)
    assert (subset == 1).sum() == 32   # batch 32: one step per epoch of a half
    options = train_options(tiny_dataset, **{"--preset": "auto", "--pseudo-atoms": "ca",
                                             "--encoder-input": "raw"})
    at = options.index("--kl-warmup")
    del options[at:at + 2]                       # derived: the published 10000
    run = tmp_path / "run"
    assert main([str(a) for a in ["train", "--out", run, "--half-sets", *options]]) == 0
    assert warmup_reason(run / "half1") == (
        "as the full set, so that both halves train alike (the full set's reason: auto: "
        "the published 10000 steps; beta reaches 0.0002 of its final value in this run's "
        "2 steps); this half: beta reaches 0.0001 of its final value in the half's 1 step")
    capsys.readouterr()
    assert main(["train", "--resume", "--half-sets", "--out", str(run), "--epochs", "3",
                 "--threads", "1"]) == 0
    log = capsys.readouterr().out
    assert warmup_reason(run) == ("auto: the published 10000 steps; beta reaches 0.0006 "
                                  "of its final value in this run's 6 steps")
    for half in ("half1", "half2"):
        reason = warmup_reason(run / half)
        assert reason == (
            "as the full set, so that both halves train alike (the full set's reason: "
            "auto: the published 10000 steps; beta reaches 0.0006 of its final value in "
            "this run's 6 steps); this half: beta reaches 0.0003 of its final value in "
            "the half's 3 steps")
        assert "%s: kl_warmup = 10000 (%s)" % (half.replace("half", "half "), reason) in log
