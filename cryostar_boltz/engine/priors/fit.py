"""Fit a prior alone to frozen posteriors."""
import torch


def fit_to_posteriors(prior, mu, logvar, steps, lr=1e-3, batch=1024, seed=0):
    """Train ``prior`` alone on frozen posteriors N(mu, exp(logvar)) (n, d)
    by the gradient of its KL term (maximum likelihood on posterior
    samples): ``steps`` Adam steps at ``lr`` on random batches of ``batch``
    rows. A prior with ``initialise_from`` (the Gaussian mixture) first
    takes its components from k-means of ``mu``. Returns the mean KL (nats)
    of the last 20 steps. Deterministic for a given ``seed``; the prior's
    train/eval mode is restored."""
    mu = torch.as_tensor(mu, dtype=torch.float32)
    logvar = torch.as_tensor(logvar, dtype=torch.float32)
    device = next(prior.parameters()).device
    mu, logvar = mu.to(device), logvar.to(device)
    if hasattr(prior, "initialise_from"):
        prior.initialise_from(mu)
    was_training = prior.training
    prior.train()
    optimiser = torch.optim.Adam(prior.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    recent = []
    for _ in range(int(steps)):
        idx = torch.randint(len(mu), (min(batch, len(mu)),), generator=generator)
        loss, _ = prior.kl(mu[idx.to(device)], logvar[idx.to(device)])
        loss = loss.mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        recent = (recent + [loss.item()])[-20:]
    prior.train(was_training)
    return sum(recent) / max(len(recent), 1)
