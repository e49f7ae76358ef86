"""Running the engine's ``cryostar-boltz plot`` as a job from Scipion's
process and reading what it wrote.

The command runs through :mod:`cryostar_boltz.program` (the
engine's environment as configured); it records its pictures and ChimeraX scripts in ``OUT/summary.json``
(:data:`cryostar_boltz.engine.layout.SUMMARY`), which is all the viewers
read. A failing command (exit code 1, one line on stderr) raises
:class:`PlotJobError` with that line.
"""
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.io import read_json
from ..engine.layout import SUMMARY
from ..program import EngineCommandError, run

#: The engine command the viewers run.
COMMAND = "plot"


class PlotJobError(EngineCommandError):
    """The plot command failed; the message is its error line."""


@dataclass
class PlotResult:
    """What one run of the plot command wrote in ``out_dir``:
    ``pictures`` {name: PNG path}, ``scripts`` {name: {"script", "models",
    "structures", "maps"}} (paths), ``skipped`` {group or picture: why},
    ``points`` {latent picture: the ``.npz`` of the points it draws}."""
    out_dir: Path
    pictures: dict = field(default_factory=dict)
    scripts: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    points: dict = field(default_factory=dict)

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
                   scripts, dict(summary.get("skipped", {})),
                   {name: path(npz) for name, npz in summary.get("points", {}).items()})

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


def run_plot(args, out_dir, cwd=None):
    """Run the plot command with ``args`` into ``out_dir`` and return its
    :class:`PlotResult`; PlotJobError with the command's error line when it
    fails."""
    try:
        run(COMMAND, ["--out", out_dir] + list(args), cwd=cwd)
    except EngineCommandError as err:
        raise PlotJobError(str(err)) from None
    return PlotResult.read(out_dir)
