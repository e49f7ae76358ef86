"""Fit a prior alone to frozen posteriors."""
import torch

#: Adam learning rate of the fit: its own, not the training's (a fit at
#: 10 x a training rate of 1e-4 stops far from the optimum; at 0.02 a
#: mixture or a GRBM over 8 latent dimensions converges in about 1,000 steps).
FIT_LR = 0.02
#: Steps per convergence check, checks without improvement before the fit
#: stops, and the improvement (nats, of the window's mean KL) that counts.
WINDOW = 100
PATIENCE = 3
TOLERANCE = 0.01
#: Last steps, at a tenth of the rate on batches four times larger: at the
#: full rate the fitted weights still move with each batch (a GRBM's basin
#: populations by up to 0.07 on the three-state benchmark; 0.02 after).
POLISH_STEPS = 500
#: Steps between progress lines (with ``log``).
REPORT_EVERY = 1000


def fit_to_posteriors(prior, mu, logvar, steps, lr=None, batch=1024, seed=0,
                      tolerance=None, polish=True, log=None):
    """Train ``prior`` alone on frozen posteriors N(mu, exp(logvar)) (n, d)
    by the gradient of its KL term (maximum likelihood on posterior
    samples: the prior moves towards the posteriors' mixture), optimising
    ``prior.fit_parameters()`` (its parameters; a GRBM adds its sigma).

    At most ``steps`` Adam steps at ``lr`` on random batches of ``batch``
    rows, fewer when the mean KL of :data:`WINDOW` steps has not improved
    by ``tolerance`` nats on its best for :data:`PATIENCE` windows (0: run
    every step); ``lr`` and ``tolerance`` default to the prior's
    ``fit_lr`` and ``fit_tolerance`` when it has them (the ebm's sampled
    KL is too noisy for an early stop), else :data:`FIT_LR` and
    :data:`TOLERANCE`; then, with ``polish``, :data:`POLISH_STEPS` more at
    ``lr / 10`` on batches of ``4 * batch`` (after the prior's
    ``prepare_polish()`` when it has one: the ebm's chains grow). A prior with
    ``initialise_from`` (the Gaussian mixture) first takes its components
    from k-means of ``mu`` and the posterior variances. Returns the mean KL
    (nats) of the last 20 steps. Deterministic for a given ``seed``; the
    prior's train/eval mode is restored. ``log`` (a callable taking a
    line) receives a progress line every :data:`REPORT_EVERY` steps and a
    last line with the steps taken and why the fit stopped."""
    lr = getattr(prior, "fit_lr", FIT_LR) if lr is None else lr
    tolerance = getattr(prior, "fit_tolerance", TOLERANCE) if tolerance is None else tolerance
    mu = torch.as_tensor(mu, dtype=torch.float32)
    logvar = torch.as_tensor(logvar, dtype=torch.float32)
    device = next(prior.parameters()).device
    mu, logvar = mu.to(device), logvar.to(device)
    if hasattr(prior, "initialise_from"):
        prior.initialise_from(mu, logvar=logvar)
    was_training = prior.training
    prior.train()
    parameters = prior.fit_parameters() if hasattr(prior, "fit_parameters") \
        else list(prior.parameters())
    frozen = [t for t in parameters if not t.requires_grad]
    for tensor in frozen:                   # buffers fitted here only
        tensor.requires_grad_(True)
    optimiser = torch.optim.Adam(parameters, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    recent, window, best, stale, done, early = [], [], float("inf"), 0, 0, False

    def step(size):
        idx = torch.randint(len(mu), (min(size, len(mu)),), generator=generator)
        loss, _ = prior.kl(mu[idx.to(device)], logvar[idx.to(device)])
        loss = loss.mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return loss.item()

    for done in range(1, int(steps) + 1):
        recent = (recent + [step(batch)])[-20:]
        if log is not None and done % REPORT_EVERY == 0:
            log("prior fit: step %d of at most %d, sampled KL estimate %.3f"
                % (done, steps, sum(recent) / len(recent)))
        window.append(recent[-1])
        if len(window) == WINDOW:
            mean = sum(window) / WINDOW
            window = []
            if mean < best - tolerance:
                best, stale = mean, 0
            else:
                stale += 1
            if tolerance > 0 and stale >= PATIENCE:
                early = True
                break
    if steps and polish:
        if hasattr(prior, "prepare_polish"):
            prior.prepare_polish()      # the ebm: more persistent chains
        for group in optimiser.param_groups:
            group["lr"] = lr / 10
        for _ in range(POLISH_STEPS):
            recent = (recent + [step(4 * batch)])[-20:]
    for tensor in frozen:
        tensor.requires_grad_(False)
    prior.train(was_training)
    if log is not None and steps:
        log("prior fit: %d steps (%s)%s"
            % (done, "stopped: no gain of %g nats over %d windows of %d steps"
               % (tolerance, PATIENCE, WINDOW) if early else "all it was given",
               ", then %d at a tenth of the rate" % POLISH_STEPS if polish else ""))
    return sum(recent) / max(len(recent), 1)
