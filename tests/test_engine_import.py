"""The engine stands alone: it never imports Scipion (pyworkflow, pwem).

Each check runs in a fresh interpreter, because the test session itself may
already have imported pyworkflow.
"""
import subprocess
import sys
import textwrap

import pytest

SCIPION_MODULES = ("pyworkflow", "pwem")

#: Puts a finder in front of sys.meta_path that refuses Scipion's packages,
#: as in an engine-only environment where they are not installed.
_BLOCK_SCIPION = textwrap.dedent("""
    import sys

    class _NoScipion:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in %r:
                raise ImportError("blocked for this test: " + name, name=name)
            return None

    sys.meta_path.insert(0, _NoScipion())
""" % (SCIPION_MODULES,))

_REPORT_SCIPION = textwrap.dedent("""
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in %r)
    print("SCIPION_MODULES=" + ",".join(loaded))
""" % (SCIPION_MODULES,))


def _run_python(code, *args):
    return subprocess.run([sys.executable, "-c", code, *args],
                          capture_output=True, text=True, timeout=120)


def _loaded_scipion_modules(stdout):
    line = [l for l in stdout.splitlines() if l.startswith("SCIPION_MODULES=")]
    assert line, "the child process did not report its modules:\n" + stdout
    value = line[-1].split("=", 1)[1]
    return value.split(",") if value else []


@pytest.mark.parametrize("module", ["cryostar_boltz.engine",
                                    "cryostar_boltz.engine.cli"])
def test_engine_import_leaves_scipion_unloaded(module):
    code = "import sys, importlib\nimportlib.import_module(%r)\n" % module
    result = _run_python(code + _REPORT_SCIPION)
    assert result.returncode == 0, result.stderr
    assert _loaded_scipion_modules(result.stdout) == []


def test_every_engine_module_leaves_scipion_unloaded():
    code = ("import importlib, pkgutil, sys\n"
            "import cryostar_boltz.engine as engine\n"
            "names = [m.name for m in pkgutil.walk_packages(\n"
            "    engine.__path__, engine.__name__ + '.')]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print('IMPORTED=' + ','.join(names))\n"
            + _REPORT_SCIPION)
    result = _run_python(_BLOCK_SCIPION + code)
    assert result.returncode == 0, result.stderr
    assert "cryostar_boltz.engine.cli" in result.stdout
    assert _loaded_scipion_modules(result.stdout) == []


def test_cli_help_leaves_scipion_unloaded():
    code = ("import sys\n"
            "from cryostar_boltz.engine import cli\n"
            "sys.argv = ['cryostar-boltz', '--help']\n"
            "try:\n"
            "    cli.main()\n"
            "except SystemExit as exit:\n"
            "    assert exit.code in (0, None), exit.code\n"
            + _REPORT_SCIPION)
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert "usage: cryostar-boltz" in result.stdout
    assert _loaded_scipion_modules(result.stdout) == []


def test_cli_module_runs_help():
    """What the Scipion protocols run: ``python -m cryostar_boltz.engine.cli``."""
    result = subprocess.run(
        [sys.executable, "-m", "cryostar_boltz.engine.cli", "--help"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: cryostar-boltz" in result.stdout


def test_engine_imports_with_scipion_blocked():
    code = (_BLOCK_SCIPION
            + "import cryostar_boltz.engine, cryostar_boltz.engine.cli\n"
            + "import cryostar_boltz\n"
            + "assert cryostar_boltz.__version__\n"
            + _REPORT_SCIPION)
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert _loaded_scipion_modules(result.stdout) == []


def test_blocking_finder_does_block():
    """Guards the test above: the finder makes Scipion unimportable, and the
    plugin class (which needs it) fails loudly, not silently."""
    code = (_BLOCK_SCIPION
            + "import cryostar_boltz\n"
            + "try:\n"
            + "    cryostar_boltz.Plugin\n"
            + "except ImportError as err:\n"
            + "    print('BLOCKED', err.name)\n")
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert "BLOCKED pwem" in result.stdout


def _commands_offered(block_scipion):
    code = ((_BLOCK_SCIPION if block_scipion else "")
            + "from cryostar_boltz.engine import cli\n"
            + "print('COMMANDS=' + ','.join(sorted(cli._available())))\n")
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    line = [l for l in result.stdout.splitlines() if l.startswith("COMMANDS=")][-1]
    return line.split("=", 1)[1].split(",")


def test_engine_without_scipion_offers_engine_commands_only():
    """The demo drives a Scipion project: an engine environment without
    Scipion does not offer it; with Scipion, the command line does."""
    without = _commands_offered(block_scipion=True)
    assert "demo" not in without and {"train", "plot", "sample-prior"} <= set(without)
    assert "demo" in _commands_offered(block_scipion=False)
