"""Scipion's process keeps the engine out: importing the viewers (and the
protocols they target) loads no torch and none of the engine's modules but
its file names, atomic writes and the training options the forms take their
defaults from (checked in a fresh interpreter: the test session itself has
loaded the engine)."""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pwem")

_REPORT = textwrap.dedent("""
    import sys
    import cryostar_boltz.viewers
    from cryostar_boltz import Plugin
    Plugin.getProgram("plot")
    print("LOADED=" + ",".join(sorted(
        m for m in sys.modules if m.split(".")[0] == "torch"
        or m.startswith("cryostar_boltz.engine"))))
    print("VIEWERS=" + ",".join(cryostar_boltz.viewers.__all__))
""")


def test_importing_the_viewers_loads_no_torch_and_no_engine_pictures():
    result = subprocess.run([sys.executable, "-c", _REPORT], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines()
                 if "=" in line)
    loaded = set(lines["LOADED"].split(",")) - {""}
    assert "torch" not in loaded
    assert "cryostar_boltz.engine.plots" not in loaded
    assert loaded <= {"cryostar_boltz.engine", "cryostar_boltz.engine.layout",
                      "cryostar_boltz.engine.io", "cryostar_boltz.engine.training",
                      "cryostar_boltz.engine.training.config",
                      "cryostar_boltz.engine.training.derived",
                      "cryostar_boltz.engine.options"}, loaded
    assert len(lines["VIEWERS"].split(",")) == 4
