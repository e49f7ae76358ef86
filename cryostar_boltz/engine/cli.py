"""``cryostar-boltz <command>``: the engine's command line.

Each command is a module in ``cryostar_boltz.engine.commands`` with a module
docstring (its help, with examples), ``add_args(parser)`` and ``main(args)``.
Modules are imported only when their command runs, so ``--help`` is instant.
"""
import argparse
import importlib
import sys

from .. import __version__

#: command name -> (module, one-line summary)
COMMANDS = {
    "simulate": ("simulate", "Simulate a particle dataset from atomic structures."),
    "train": ("train", "Train the structure-guided VAE (stage 1)."),
    "train-density": ("train_density", "Train the density decoder (stage 2)."),
    "generate": ("generate", "Decode latents to structures (and maps)."),
    "sample-prior": ("sample_prior", "Sample latents from a trained prior."),
    "analyze": ("analyze", "PCA, clustering and per-cluster particle subsets."),
    "plot": ("plot", "Write the pictures of a run as PNG files."),
    "demo": ("demo", "Run the whole workflow on the bundled demo data."),
}


def _available():
    import importlib.util
    return {name: spec for name, spec in COMMANDS.items()
            if importlib.util.find_spec(
                "cryostar_boltz.engine.commands." + spec[0]) is not None}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = _available()
    parser = argparse.ArgumentParser(
        prog="cryostar-boltz",
        description="Conformational landscapes from cryo-EM particles, guided "
                    "by a reference atomic model, with Boltzmann-machine "
                    "latent priors.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'cryostar-boltz <command> --help' for a command's options.")
    parser.add_argument("--version", action="version",
                        version="cryostar-boltz " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (_, summary) in commands.items():
        sub.add_parser(name, help=summary, add_help=False)
    if not argv or argv[0] not in commands:
        args = parser.parse_args(argv)  # prints help or an error
        parser.print_help()
        return 0 if args.command is None and not argv else 2
    name = argv[0]
    module = importlib.import_module(
        "cryostar_boltz.engine.commands." + commands[name][0])
    cmd_parser = argparse.ArgumentParser(
        prog="cryostar-boltz " + name, description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_args(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    try:
        return module.main(args) or 0
    except (ValueError, FileNotFoundError, OSError) as err:
        if getattr(args, "debug", False):
            raise
        print("cryostar-boltz %s: error: %s" % (name, err), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
