"""Packaging for cryostar-boltz, a Scipion 3 plugin and a stand-alone engine."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    (HERE / "cryostar_boltz" / "engine" / "__init__.py").read_text(),
                    re.M).group(1)
ENGINE_REQUIREMENTS = [
    line.split("#")[0].strip() for line in
    (HERE / "cryostar_boltz" / "engine" / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip()]

setup(
    name="scipion-em-cryostar-boltz",
    version=VERSION,
    description=("Conformational landscapes from cryo-EM particles guided by an "
                 "atomic model (CryoSTAR method) with Boltzmann-machine latent "
                 "priors sampled through D-Wave Ocean dimod samplers."),
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="GPLv3",
    python_requires=">=3.9",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    include_package_data=True,
    package_data={"cryostar_boltz": ["protocols.conf", "*.png"],
                  "cryostar_boltz.engine": ["data/*/*", "requirements.txt"]},
    # Scipion's side, then the engine's own requirements (the list the engine
    # environment of Plugin.defineBinaries installs without Scipion).
    install_requires=[
        "scipion-pyworkflow>=3.11.7,<3.12",
        "scipion-em>=3.11.1,<3.12",
        "biopython>=1.80,<1.82",  # the release scipion-em pins
    ] + ENGINE_REQUIREMENTS,
    extras_require={
        # dwave-system 1.35+ needs numpy 2 and scipy 1.13, which Scipion pins lower
        "dwave": ["dwave-system>=1.26,<1.35"],
        "test": ["pytest", "pytest-xdist", "dwave-system>=1.26,<1.35"],
    },
    entry_points={
        "pyworkflow.plugin": ["cryostar_boltz = cryostar_boltz"],
        "console_scripts": ["cryostar-boltz = cryostar_boltz.engine.cli:main"],
        # commands of the Scipion side, offered where Scipion is installed
        "cryostar_boltz.commands": ["demo = cryostar_boltz.workflow.demo",
                                    "project = cryostar_boltz.workflow.project"],
        # third-party dimod samplers register here; ours are built in
        "cryostar_boltz.samplers": [
            "gibbs = cryostar_boltz.engine.samplers:GibbsSampler",
            "exact = cryostar_boltz.engine.samplers:ExactSampler",
        ],
    },
    classifiers=["Programming Language :: Python :: 3",
                 "Topic :: Scientific/Engineering :: Bio-Informatics"],
)
