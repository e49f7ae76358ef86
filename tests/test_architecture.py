"""The tree shows the architecture: the folder boundary is the import
boundary.

* Everything under ``cryostar_boltz/engine/`` runs without Scipion and
  imports nothing from outside ``engine/``.
* Commands are leaves: no module, test or benchmark imports from
  ``engine/commands/``.
* The Scipion side (plugin, protocols, viewers, conversions) never imports
  torch: it reaches the engine through its command line.
* Protocols and their form modules stay thin (about 300 lines at most).

The import checks read the source (``ast``), so they see imports inside
functions too.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cryostar_boltz"
ENGINE = PACKAGE / "engine"
#: Most lines a protocol module may have.
PROTOCOL_LINES = 330


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path):
    """Absolute names of the modules ``path`` imports (relative imports
    resolved against its package)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            # "from pkg import submodule" imports the submodule
            names += ["%s.%s" % (module, alias.name) for alias in node.names]
    return names


def _python_files(*folders):
    for folder in folders:
        yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_engine_imports_nothing_outside_the_engine():
    offenders = []
    for path in _python_files(ENGINE):
        for name in _imports(path):
            if name.split(".")[0] in ("pyworkflow", "pwem"):
                offenders.append("%s imports %s" % (path.relative_to(ROOT), name))
            elif name.startswith("cryostar_boltz") and not (
                    name == "cryostar_boltz" or name.startswith("cryostar_boltz.engine")):
                offenders.append("%s imports %s" % (path.relative_to(ROOT), name))
    assert offenders == []


def test_nothing_imports_a_command():
    commands = "cryostar_boltz.engine.commands"
    offenders = []
    for path in _python_files(PACKAGE, ROOT / "tests", ROOT / "benchmarks"):
        if path.is_relative_to(ENGINE / "commands") or path == ENGINE / "cli.py":
            continue
        for name in _imports(path):
            if name == commands or name.startswith(commands + "."):
                offenders.append("%s imports %s" % (path.relative_to(ROOT), name))
    assert offenders == []


def test_commands_import_no_other_command():
    offenders = []
    for path in _python_files(ENGINE / "commands"):
        for name in _imports(path):
            if name.startswith("cryostar_boltz.engine.commands.") and \
                    name != _module_name(path):
                offenders.append("%s imports %s" % (path.relative_to(ROOT), name))
    assert offenders == []


def test_import_checker_sees_what_it_must():
    """Guards the checks above on a known module: the engine's command
    line imports its own package (relative import resolved)."""
    assert "cryostar_boltz.engine" in _imports(ENGINE / "cli.py")


@pytest.mark.parametrize("path", sorted((PACKAGE / "protocols").glob("protocol_*.py"))
                         + sorted((PACKAGE / "protocols").glob("*form.py")),
                         ids=lambda p: p.name)
def test_protocols_stay_thin(path):
    """Each protocol and each of its form modules."""
    assert len(path.read_text().splitlines()) <= PROTOCOL_LINES


def test_scipion_side_never_imports_torch():
    """What Scipion's process loads (the plugin, its protocols, viewers,
    conversions and form constants) leaves torch unimported."""
    code = ("import sys\n"
            "import cryostar_boltz\n"
            "cryostar_boltz.Plugin\n"
            "import cryostar_boltz.protocols, cryostar_boltz.viewers\n"
            "import cryostar_boltz.convert, cryostar_boltz.constants\n"
            "print('TORCH=%s' % ('torch' in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "TORCH=False" in result.stdout
