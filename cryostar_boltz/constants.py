"""Names shared by the Scipion plugin, its protocols and viewers."""

#: Plugin variable: a shell command that activates the environment in which
#: the engine runs (for example ``conda activate cryostar-boltz``). Empty means
#: the engine runs in the interpreter that runs Scipion.
ENV_ACTIVATION = "CRYOSTAR_BOLTZ_ENV_ACTIVATION"
#: Plugin variable: the Python interpreter of the engine environment.
ENGINE_PYTHON = "CRYOSTAR_BOLTZ_PYTHON"

ENGINE_MODULE = "cryostar_boltz.engine.cli"
