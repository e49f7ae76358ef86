"""Held-out benchmark: does a run's encoder carry over to particles it never
saw, or does it hold its training particles' latents?

Data: a finished training run on a simulated path dataset, and new
particles of the same simulation (another seed)::

    python benchmarks/adk_dataset.py --out bench_data/adk_path
    python benchmarks/adk_dataset.py --out bench_data/adk_heldout --n 2000 --seed 77
    cryostar-boltz train --particles bench_data/adk_path/particles.star \\
        --reference bench_data/adk_path/reference.pdb --out runs/adk
    python benchmarks/bench_heldout.py --data bench_data/adk_path \\
        --heldout bench_data/adk_heldout --run runs/adk

Encodes the held-out particles with the run's encoder, given what it was
trained on (``--encoder-input``: images turned and centred by their poses,
or as recorded), and prints |Spearman(PC1, frame)| of 2,000 of the run's
own particles (their z.npy) and of the held-out ones, with PC1 fitted on
the run's own latents. A wide gap means the encoder memorised its
particles: a particle it could not fit (junk, left out of the image loss)
then gets a latent of held-out quality.
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np


def encode(run, particles, device="cpu"):
    """Posterior means (n, d) of the particles of the star ``particles``
    through the encoder of ``run`` (a ``TrainedRun``), at the run's box."""
    from cryostar_boltz.engine.halfset_agreement import encode_all, open_particles
    with tempfile.TemporaryDirectory() as cache:
        data = open_particles(particles, None, run.config.box, Path(cache), device)
        return encode_all(run, data)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="the run's dataset (particles_truth.npz)")
    parser.add_argument("--heldout", type=Path, required=True,
                        help="new particles of the same simulation")
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--n", type=int, default=2000, help="own particles counted")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from cryostar_boltz.engine.analysis import fit_pca, spearman_abs
    from cryostar_boltz.engine.runs import TrainedRun
    torch.set_num_threads(args.threads)
    run = TrainedRun(args.run)
    z = run.latents()
    pca = fit_pca(z, 1)
    own_state = np.load(args.data / "particles_truth.npz")["state"]
    rows = np.linspace(0, len(z) - 1, min(args.n, len(z))).astype(int)
    own = spearman_abs(pca.transform(z[rows])[:, 0], own_state[rows])
    held = encode(run, args.heldout / "particles.star")
    held_state = np.load(args.heldout / "particles_truth.npz")["state"]
    new = spearman_abs(pca.transform(held)[:, 0], held_state)
    print("| run | encoder input | own particles | held-out particles |")
    print("|---|---|---|---|")
    print("| %s | %s | %d: %.3f | %d: %.3f |"
          % (args.run.name, run.config.encoder_input, len(rows), own, len(held), new))


if __name__ == "__main__":
    main()
