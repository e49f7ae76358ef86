"""Scipion finds the plugin, its variables, references and menu."""
import json
import shlex
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

pwem = pytest.importorskip("pwem")

from cryostar_boltz.constants import ENGINE_MODULE, ENGINE_PYTHON, ENV_ACTIVATION  # noqa: E402

PLUGIN_NAME = "cryostar_boltz"


@pytest.fixture
def plugin_module():
    """The plugin module as Scipion's registry loads it."""
    return pwem.Domain.getPluginModule(PLUGIN_NAME)


@pytest.fixture
def plugin_variables(plugin_module, monkeypatch):
    """Re-reads the plugin variables from the environment (as Scipion does at
    start-up) after the test has set them, and restores them afterwards."""
    plugin = plugin_module.Plugin

    def define(**variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        plugin._defineVariables()
        return plugin

    yield define
    monkeypatch.undo()
    plugin._defineVariables()


def test_plugin_is_discovered_through_entry_point(plugin_module):
    plugins = pwem.Domain.getPlugins()
    assert PLUGIN_NAME in plugins
    assert plugins[PLUGIN_NAME] is plugin_module
    assert issubclass(plugin_module.Plugin, pwem.Plugin)
    assert plugin_module.Plugin.__module__ == PLUGIN_NAME
    assert plugin_module._pluginInstance.name == PLUGIN_NAME


def test_default_engine_command_is_this_interpreter(plugin_variables):
    plugin = plugin_variables(**{ENV_ACTIVATION: "", ENGINE_PYTHON: ""})
    assert plugin.getVar(ENV_ACTIVATION) == ""
    assert plugin.getProgram("train") == "%s -m %s train" % (
        shlex.quote(sys.executable), ENGINE_MODULE)


def test_activation_prefixes_engine_command(plugin_variables):
    activation = "conda activate cryostar-boltz"
    plugin = plugin_variables(**{ENV_ACTIVATION: activation, ENGINE_PYTHON: ""})
    assert plugin.getProgram("train --epochs 2") == (
        "%s && python -m %s train --epochs 2" % (activation, ENGINE_MODULE))


def test_engine_python_variable_names_the_interpreter(plugin_variables):
    plugin = plugin_variables(**{ENV_ACTIVATION: "", ENGINE_PYTHON: "/opt/engine/bin/python"})
    assert plugin.getProgram("analyze") == (
        "/opt/engine/bin/python -m %s analyze" % ENGINE_MODULE)


def test_engine_command_runs(plugin_variables):
    """The command line the protocols hand to runJob starts the engine."""
    plugin = plugin_variables(**{ENV_ACTIVATION: "", ENGINE_PYTHON: ""})
    result = subprocess.run(plugin.getProgram("--help"), shell=True,
                            capture_output=True, text=True, timeout=120,
                            env=plugin.getEnviron())
    assert result.returncode == 0, result.stderr
    assert "usage: cryostar-boltz" in result.stdout


def test_references_resolve_in_bibtex(plugin_module):
    assert plugin_module._references
    bibtex = plugin_module._bibtex
    for key in plugin_module._references:
        assert key in bibtex, "reference %r is missing from bibtex.py" % key
        assert bibtex[key].get("doi") or bibtex[key].get("title")


def _read_protocols_conf(path):
    """Reads a plugin's protocols.conf the way pyworkflow's tree view does:
    an INI file whose PROTOCOLS options are JSON lists of menu nodes."""
    parser = ConfigParser()
    parser.optionxform = str
    assert parser.read(path), "cannot read %s" % path
    assert parser.has_section("PROTOCOLS")
    return {view: json.loads(parser.get("PROTOCOLS", view))
            for view in parser.options("PROTOCOLS")}


def _protocol_names(nodes):
    for node in nodes:
        if node.get("tag") == "protocol":
            yield node["value"]
        yield from _protocol_names(node.get("children", []))


def test_protocols_conf_is_valid_and_names_the_protocols(plugin_module):
    conf = Path(plugin_module.__path__[0]) / "protocols.conf"
    views = _read_protocols_conf(conf)
    assert "Flexibility Hub" in views
    names = list(_protocol_names(views["Flexibility Hub"]))
    assert names, "protocols.conf lists no protocol"
    assert all(name.startswith("CryoStarBoltzProt") for name in names), names
    assert len(set(names)) == len(names)


def test_protocols_conf_loads_in_scipion_menu():
    """pyworkflow's own reader accepts the file and places our section."""
    from pyworkflow.gui.project.viewprotocols_extra import ProtocolTreeConfig

    tree = ProtocolTreeConfig.load(pwem.Domain, protocolsConf="")
    assert "Flexibility Hub" in tree
    sections = [child.text for child in tree["Flexibility Hub"].childs]
    assert "CryoSTAR-Boltz" in sections
