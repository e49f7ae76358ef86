"""Running the engine's ``cryostar-boltz plot`` as a job from Scipion's
process and reading what it wrote.

The command line comes from ``Plugin.getProgram("plot")`` (the engine's
environment as configured) and runs with ``Plugin.getEnviron()``; the
command records its pictures and ChimeraX scripts in ``OUT/summary.json``
(:data:`cryostar_boltz.engine.layout.SUMMARY`), which is all the viewers
read. A failing command (exit code 1, one line on stderr) raises
:class:`PlotJobError` with that line.
"""
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.io import read_json
from ..engine.layout import SUMMARY

#: The engine command the viewers run.
COMMAND = "plot"
#: Prefix of the engine's error line (``cli.main``).
ERROR_PREFIX = "cryostar-boltz %s: error: " % COMMAND


class PlotJobError(ValueError):
    """The plot command failed; the message is its error line."""


@dataclass
class PlotResult:
    """What one run of the plot command wrote in ``out_dir``:
    ``pictures`` {name: PNG path}, ``scripts`` {name: {"script", "models",
    "structures", "maps"}} (paths), ``skipped`` {group or picture: why}."""
    out_dir: Path
    pictures: dict = field(default_factory=dict)
    scripts: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    @classmethod
    def read(cls, out_dir):
        """The result recorded in ``out_dir/summary.json``; PlotJobError
        when there is none."""
        out_dir = Path(out_dir)
        summary = read_json(out_dir / SUMMARY)
        if summary is None:
            raise PlotJobError("cryostar-boltz %s wrote no %s in %s"
                               % (COMMAND, SUMMARY, out_dir))

        def path(name):
            return None if name is None else Path(name) if Path(name).is_absolute() \
                else out_dir / name

        scripts = {name: {"script": path(entry["script"]),
                          "models": path(entry.get("models")),
                          "structures": path(entry.get("structures")),
                          "maps": [path(m) for m in entry.get("maps") or []]}
                   for name, entry in summary.get("scripts", {}).items()}
        return cls(out_dir, {name: path(png) for name, png
                             in summary.get("pictures", {}).items()},
                   scripts, dict(summary.get("skipped", {})))

    def script_for(self, structures=None, maps=False):
        """The script entry showing the multi-model file ``structures``
        (with the maps when ``maps``), or None."""
        target = None if structures is None else Path(structures).resolve()
        for entry in self.scripts.values():
            shown = entry["structures"]
            if (shown is None) == (target is None) and bool(entry["maps"]) == maps \
                    and (shown is None or shown.resolve() == target):
                return entry
        return None


def plot_command(args, out_dir):
    """The shell command line running ``cryostar-boltz plot --out OUT
    ARGS`` in the engine's environment."""
    from .. import Plugin
    words = ["--out", str(out_dir)] + [str(a) for a in args]
    return "%s %s" % (Plugin.getProgram(COMMAND), " ".join(map(shlex.quote, words)))


def error_line(stderr, returncode):
    """The engine's one-line error (prefix dropped), else the last line of
    ``stderr``, else the exit code."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if errors:
        return errors[-1][len(ERROR_PREFIX):]
    if lines:
        return lines[-1]
    return "cryostar-boltz %s ended with exit code %d" % (COMMAND, returncode)


def run_plot(args, out_dir, cwd=None):
    """Run the plot command with ``args`` into ``out_dir`` (created) and
    return its :class:`PlotResult`; PlotJobError with the command's error
    line when it fails."""
    from .. import Plugin
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(plot_command(args, out_dir), shell=True, cwd=cwd,
                          env=Plugin.getEnviron(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise PlotJobError(error_line(done.stderr, done.returncode))
    return PlotResult.read(out_dir)
