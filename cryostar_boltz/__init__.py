"""cryostar-boltz: conformational landscapes guided by an atomic model.

This file is the Scipion plugin's entry point. The engine
(``cryostar_boltz.engine``) must import without Scipion, and without paying
for pyworkflow's import, so the ``Plugin`` class is built on first access
(PEP 562 module ``__getattr__``): Scipion's plugin registry asks for
``module.Plugin`` and gets it, ``import cryostar_boltz.engine`` never does.
"""
from .engine import __version__  # one version for the plugin and its engine

_references = ["Li2024cryostar"]
_logo = "cryostar_boltz_logo.png"


def _build_plugin_class():
    import os
    import shlex
    import sys

    import pwem

    from .constants import ENGINE_MODULE, ENGINE_PYTHON, ENV_ACTIVATION

    class Plugin(pwem.Plugin):
        """Scipion plugin: where the engine runs and how to call it."""

        _url = "https://pypi.org/project/scipion-em-cryostar-boltz/"
        _supportedVersions = [__version__]

        @classmethod
        def _defineVariables(cls):
            cls._defineVar(ENV_ACTIVATION, "",
                           description="Shell command that activates the "
                                       "engine's environment; empty: the "
                                       "interpreter running Scipion.")
            cls._defineVar(ENGINE_PYTHON, "",
                           description="Python interpreter of the engine's "
                                       "environment; empty: 'python' after "
                                       "activation, else this interpreter.")

        @classmethod
        def getEnviron(cls):
            """Environment for engine jobs: the current one, threads capped
            by the protocol, Python output unbuffered for live logs."""
            environ = pwem.pwutils.Environ(os.environ)
            environ["PYTHONUNBUFFERED"] = "1"
            return environ

        @classmethod
        def getEnginePython(cls):
            python = cls.getVar(ENGINE_PYTHON)
            if python:
                return python
            return "python" if cls.getVar(ENV_ACTIVATION) else sys.executable

        @classmethod
        def getProgram(cls, command, processes=1):
            """The shell command line that runs ``cryostar-boltz <command>``
            in the configured environment (what protocols pass to runJob);
            ``processes > 1`` starts data-parallel processes with torchrun."""
            launcher = ""
            if processes > 1:
                launcher = ("-m torch.distributed.run --standalone "
                            "--nproc_per_node %d " % processes)
            program = "%s %s-m %s %s" % (shlex.quote(cls.getEnginePython()),
                                         launcher, ENGINE_MODULE, command)
            activation = cls.getVar(ENV_ACTIVATION)
            if activation:
                program = "%s && %s" % (activation, program)
            return program

        @classmethod
        def defineBinaries(cls, env):
            """Nothing to build: the engine installs with the plugin (pip).
            A separate environment is set up by hand and named through
            CRYOSTAR_BOLTZ_ENV_ACTIVATION (see README.rst)."""

    Plugin.__module__ = __name__
    return Plugin


def __getattr__(name):
    if name == "Plugin":
        plugin = _build_plugin_class()
        globals()["Plugin"] = plugin
        return plugin
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
