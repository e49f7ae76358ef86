"""Create the engine's own Python environment (what ``scipion3 installb
cryostar-boltz`` runs through ``Plugin.defineBinaries``).

The engine (``cryostar_boltz.engine``: torch, dimod, ...) runs apart from
Scipion, as the cryoDRGN and Flexibility Hub plugins run theirs: a virtual
environment with the build of torch that suits the machine (CUDA where an
NVIDIA driver answers, else the CPU build), the engine's requirements
(``engine/requirements.txt``) and this package without its Scipion
dependencies. The protocols and viewers then run ``PREFIX/bin/python -m
cryostar_boltz.engine.cli`` (``Plugin.getProgram``), so Scipion's own
process never imports torch.

Usage::

    python -m cryostar_boltz.engine_env --prefix ENV_DIR
    python -m cryostar_boltz.engine_env --prefix ENV_DIR --torch "torch==2.13.0" \\
        --torch-index pypi

Sites with their own package mirrors or a particular CUDA release set
``CRYOSTAR_BOLTZ_TORCH`` (the torch requirement, e.g. ``torch==2.5.1``) and
``CRYOSTAR_BOLTZ_TORCH_INDEX`` (``auto``, ``pypi``, ``cpu`` or an index URL
such as ``https://download.pytorch.org/whl/cu121``) before the binary
install; pip's own variables (``PIP_INDEX_URL``, ``PIP_CONSTRAINT``...)
apply to every step.

Nothing here imports Scipion, torch or the engine.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

#: The distribution that holds the plugin and its engine.
DISTRIBUTION = "scipion-em-cryostar-boltz"
PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS = PACKAGE_DIR / "engine" / "requirements.txt"
#: Variables that choose torch's requirement and index (see above).
TORCH_VARIABLE = "CRYOSTAR_BOLTZ_TORCH"
TORCH_INDEX_VARIABLE = "CRYOSTAR_BOLTZ_TORCH_INDEX"
#: PyTorch's index of CPU-only builds (PyPI's Linux wheels are CUDA builds).
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def engine_requirements():
    """The engine's requirements (``engine/requirements.txt``), torch first."""
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [line for line in lines if line]


def has_nvidia_gpu():
    """Whether an NVIDIA driver answers (``nvidia-smi -L`` lists a GPU)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "GPU" in done.stdout


def torch_index(choice="auto"):
    """The package index for torch: ``auto`` is PyPI (CUDA builds) on a
    machine with an NVIDIA GPU and PyTorch's CPU index otherwise; ``pypi``
    or ``cpu``, or an index URL."""
    if choice == "auto":
        return None if has_nvidia_gpu() else CPU_INDEX
    if choice == "pypi":
        return None
    if choice == "cpu":
        return CPU_INDEX
    return choice


def source_tree():
    """The source checkout this package runs from (a folder with setup.py
    next to the package), or None for an installed wheel."""
    root = PACKAGE_DIR.parent
    return root if (root / "setup.py").is_file() else None


def install_commands(prefix, torch=None, index="auto", constraints=None):
    """The commands (argument lists) that create the environment ``prefix``."""
    prefix = Path(prefix).resolve()
    python = str(prefix / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    limits = ["-c", str(constraints)] if constraints else []
    requirements = engine_requirements()
    torch = torch or next(r for r in requirements if r.startswith("torch"))
    url = torch_index(index)
    commands = [[sys.executable, "-m", "venv", str(prefix)],
                pip + [torch] + limits + (["--index-url", url] if url else []),
                pip + [r for r in requirements if not r.startswith("torch")] + limits]
    tree = source_tree()
    if tree is not None:
        commands.append(pip + ["--no-deps", "-e", str(tree)])
    else:
        from . import __version__
        commands.append(pip + ["--no-deps", "%s==%s" % (DISTRIBUTION, __version__)])
    # the environment must run the engine's command line
    commands.append([python, "-m", "cryostar_boltz.engine.cli", "--version"])
    return commands


def create(prefix, torch=None, index="auto", constraints=None, log=print):
    """Create (or update) the engine environment at ``prefix``; raises
    RuntimeError naming the step that failed."""
    for command in install_commands(prefix, torch, index, constraints):
        log("$ " + " ".join(shlex.quote(c) for c in command))
        if subprocess.run(command).returncode:
            raise RuntimeError("creating the engine environment %s failed at: %s"
                               % (prefix, " ".join(command)))
    return Path(prefix) / "bin" / "python"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cryostar_boltz.engine_env",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", required=True, help="folder of the environment")
    parser.add_argument("--torch", default=os.environ.get(TORCH_VARIABLE),
                        help="torch requirement (default: $%s, else "
                        "engine/requirements.txt's)" % TORCH_VARIABLE)
    parser.add_argument("--torch-index",
                        default=os.environ.get(TORCH_INDEX_VARIABLE) or "auto",
                        help="auto (default: CUDA builds from PyPI where an "
                        "NVIDIA GPU answers, else the CPU index), pypi, cpu or "
                        "an index URL")
    parser.add_argument("--constraints", help="pip constraints file")
    args = parser.parse_args(argv)
    try:
        python = create(args.prefix, args.torch, args.torch_index, args.constraints)
    except RuntimeError as err:
        print("error: %s" % err, file=sys.stderr)
        return 1
    print("engine environment ready: %s" % python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
