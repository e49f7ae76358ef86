"""Scipion's process does not load torch: importing the plugin's
constants, forms and protocols (what the GUI does at start-up and on every
form) leaves torch unimported, so the engine can live in an environment of
its own."""
import subprocess
import sys

import pytest

pytest.importorskip("pwem")


@pytest.mark.parametrize("module", ["cryostar_boltz.constants",
                                    "cryostar_boltz.protocols"])
def test_import_does_not_load_torch(module):
    code = ("import sys, %s; from cryostar_boltz.protocols import "
            "CryoStarBoltzProtTrain; CryoStarBoltzProtTrain(); "
            "print('torch' in sys.modules)" % module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
