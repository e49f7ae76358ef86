"""Run the whole Scipion workflow on the bundled demo data.

Simulates adenylate-kinase particles (closed and open states), creates a
Scipion project and runs import -> train (stage 1 with a Gaussian-Bernoulli
RBM prior, and stage 2 maps) -> sample prior -> generate -> analyze, then
prints what was made and where. A few minutes on 2 CPU cores. Needs the
Scipion side of the package (scipion-pyworkflow, scipion-em); without a
Scipion configuration, a headless one is made inside --out.

Examples:

    cryostar-boltz demo
    cryostar-boltz demo --out /data/demo --epochs 30
"""


def add_args(parser):
    parser.add_argument("-o", "--out", default="cryostar_boltz_demo",
                        help="output folder (default %(default)s)")
    parser.add_argument("-n", "--n-particles", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--debug", action="store_true")


def main(args):
    try:
        from ...demo import run_demo
    except ImportError as err:  # Scipion not installed in this environment
        raise ValueError("the demo runs a Scipion project and needs "
                         "scipion-pyworkflow and scipion-em (%s)" % err)
    run_demo(args.out, args.n_particles, args.epochs, args.threads)
