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

    from .constants import (ENGINE_HOME, ENGINE_MODULE, ENGINE_PYTHON,
                            ENV_ACTIVATION)

    class Plugin(pwem.Plugin):
        """Scipion plugin: where the engine runs and how to call it.

        The engine runs in its own environment, created by
        ``scipion3 installb cryostar-boltz`` (:meth:`defineBinaries`) under
        Scipion's software folder (``CRYOSTAR_BOLTZ_HOME``). Without one,
        ``CRYOSTAR_BOLTZ_ENV_ACTIVATION`` (e.g. ``conda activate X``) or
        ``CRYOSTAR_BOLTZ_PYTHON`` name another; with none of them the engine
        runs in this interpreter's environment (a plain pip install of the
        plugin brings the engine's requirements). Either way it runs as a
        separate process: protocols and viewers reach it only through
        :meth:`getProgram`, so Scipion's process never imports torch.
        """

        _url = "https://pypi.org/project/scipion-em-cryostar-boltz/"
        _supportedVersions = [__version__]

        @classmethod
        def _defineVariables(cls):
            cls._defineEmVar(ENGINE_HOME, "cryostar-boltz-%s" % __version__,
                             description="Folder of the engine's environment "
                                         "(made by the binary install).")
            cls._defineVar(ENV_ACTIVATION, "",
                           description="Shell command that activates another "
                                       "environment for the engine; empty: "
                                       "the engine's own environment, or the "
                                       "interpreter running Scipion.")
            cls._defineVar(ENGINE_PYTHON, "",
                           description="Python interpreter of the engine's "
                                       "environment (overrides the others).")

        @classmethod
        def getEnviron(cls):
            """Environment for engine jobs: the current one, Python output
            unbuffered for live logs. A separate engine environment does
            not inherit Scipion's PYTHONPATH (its packages are its own)."""
            environ = pwem.pwutils.Environ(os.environ)
            environ["PYTHONUNBUFFERED"] = "1"
            if cls.getEnginePython() != sys.executable:
                environ.pop("PYTHONPATH", None)
            return environ

        @classmethod
        def getEnginePython(cls):
            """The engine's interpreter: ``CRYOSTAR_BOLTZ_PYTHON``; else
            ``python`` after the activation command; else the engine
            environment's; else this one."""
            python = cls.getVar(ENGINE_PYTHON)
            if python:
                return python
            if cls.getVar(ENV_ACTIVATION):
                return "python"
            home = cls.getVar(ENGINE_HOME)
            own = os.path.join(home, "bin", "python") if home else ""
            return own if own and os.path.exists(own) else sys.executable

        @classmethod
        def getProgram(cls, command, processes=1):
            """The shell command line that runs ``cryostar-boltz <command>``
            in the engine's environment (what protocols pass to runJob and
            viewers run); ``processes > 1`` starts data-parallel processes
            with torchrun."""
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
            """``scipion3 installb cryostar-boltz``: a virtual environment
            with torch (the CUDA build where an NVIDIA GPU answers, else the
            CPU build), the engine's requirements and this package, made by
            :mod:`cryostar_boltz.engine_env` in Scipion's software folder."""
            for name, version, commands in cls.binaryPackages():
                env.addPackage(name, version=version, tar="void.tgz",
                               commands=commands, neededProgs=[], default=True)

        @classmethod
        def binaryPackages(cls):
            """(name, version, [(shell command, file it makes)]) of the
            binaries: the engine environment, built in the package folder
            (the install runs its commands there)."""
            done = "cryostar_boltz_engine_installed"
            command = ("%s -m cryostar_boltz.engine_env --prefix . && touch %s"
                       % (shlex.quote(sys.executable), done))
            return [("cryostar-boltz", __version__, [(command, done)])]

    Plugin.__module__ = __name__
    return Plugin


def __getattr__(name):
    if name == "Plugin":
        plugin = _build_plugin_class()
        globals()["Plugin"] = plugin
        return plugin
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
