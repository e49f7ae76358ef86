"""Latent priors of the VAE, one module per family, one interface
(:class:`~.base.Prior`): ``gaussian`` (N(0, I), the published method's),
``gmm`` (a learnable Gaussian mixture), ``grbm`` (a Gaussian-Bernoulli
RBM over z), ``rbm`` (an RBM binary code beside z) and ``ebm`` (a neural
energy over z, the latent EBM prior of Pang et al. 2020).

Build one with ``build_prior(name, latent_dim, **options)`` (names in
:data:`PRIORS`, short option names in :data:`OPTION_ALIASES`); rebuild it
from ``prior.config()`` and restore its state with ``load_state_dict``.

Modules: ``base`` (the interface, ``gaussian_entropy``,
``reparameterise``), ``gaussian``, ``gmm``, ``boltzmann`` (what ``grbm``
and ``rbm`` share: the binary quadratic model, log Z by enumeration or
AIS, persistent chains), ``grbm``, ``rbm``, ``ebm`` (a neural energy over
z, Pang et al. 2020), ``fit`` (``fit_to_posteriors``), ``landscape``
(basins of the free energy over a continuous latent: descent, saddles,
merging by barrier, populations) and ``testing`` (``assert_prior_api``,
the checks every prior passes).
"""
import inspect

from .base import Prior, UnknownPriorError, gaussian_entropy, reparameterise
from .boltzmann import BoltzmannPrior
from .ebm import EBMPrior
from .fit import fit_to_posteriors
from .gaussian import GaussianPrior
from .gmm import GMMPrior
from .grbm import GRBMPrior
from .rbm import RBMPrior

#: Prior classes by name (``--prior``).
PRIORS = {"gaussian": GaussianPrior, "gmm": GMMPrior, "grbm": GRBMPrior, "rbm": RBMPrior,
          "ebm": EBMPrior}

#: Short option names accepted on command lines and in Scipion forms.
OPTION_ALIASES = {"hidden": "hidden_units", "visible": "visible_units",
                  "k": "components", "width": "energy_width", "layers": "energy_layers",
                  "steps": "langevin_steps", "chains": "num_chains",
                  "bound": "energy_bound"}


def build_prior(name, latent_dim, **options):
    """The prior called ``name`` over a ``latent_dim``-dimensional latent.

    Options may use the short names of :data:`OPTION_ALIASES`. Raises
    :class:`UnknownPriorError` for an unknown name and a ValueError listing
    the prior's options for an option it does not take."""
    if name not in PRIORS:
        raise UnknownPriorError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    accepted = [p.name for p in inspect.signature(PRIORS[name].__init__).parameters.values()
                if p.name not in ("self", "latent_dim")
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    options = {OPTION_ALIASES.get(k, k): v for k, v in options.items()}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"prior {name!r} has no option {', '.join(unknown)}; "
                         f"its options are {', '.join(accepted) or 'none'}")
    signature = inspect.signature(PRIORS[name].__init__).parameters
    for key, value in options.items():
        options[key] = _checked_option(name, key, value, signature[key].default)
    return PRIORS[name](latent_dim, **options)


#: Integer prior options where 0 means "never" (exact sums, AIS estimates).
ZERO_ALLOWED = ("exact_max_hidden", "exact_max_units", "ais_every", "log_z_every")


#: Upper bounds of integer prior options whose memory or time grows with
#: them (tensors allocated at once, or work per training step): far above
#: any useful value, far below what exhausts a workstation. Options not
#: named here are bounded by :data:`MAX_COUNT`.
OPTION_MAX = {"energy_width": 4096, "energy_layers": 32, "hidden_units": 4096,
              "visible_units": 4096, "components": 1024, "num_chains": 100_000,
              "ais_chains": 100_000, "kl_samples": 1024}
MAX_COUNT = 1_000_000


def _checked_option(prior, key, value, default):
    """``value`` of option ``key`` checked against the kind of its default:
    a flag 0/1, a seed, an integer >= 1 (>= 0 for :data:`ZERO_ALLOWED`) and
    at most :data:`OPTION_MAX` (or :data:`MAX_COUNT`), a finite number > 0;
    ValueError naming the prior and the option."""
    from ..options import between, check, positive_float, seed
    label = "prior %s option %s" % (prior, key)
    if isinstance(default, bool):
        if value not in (0, 1, True, False):
            raise ValueError("%s must be 0 or 1, got %r" % (label, value))
        return bool(value)
    if key == "seed":
        return check(label, value, seed)

    if isinstance(default, int):
        return check(label, value, between(0 if key in ZERO_ALLOWED else 1,
                                           OPTION_MAX.get(key, MAX_COUNT),
                                           why="memory and time grow with it"))
    if isinstance(default, float) and default > 0:
        return check(label, value, positive_float)
    return value


__all__ = ["PRIORS", "OPTION_ALIASES", "UnknownPriorError", "build_prior", "Prior",
           "BoltzmannPrior", "GaussianPrior", "GMMPrior", "GRBMPrior", "RBMPrior", "EBMPrior",
           "gaussian_entropy", "reparameterise", "fit_to_posteriors"]
