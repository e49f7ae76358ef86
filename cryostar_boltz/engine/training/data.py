"""Particles ready for training, shared by both stages."""
import numpy as np
import torch

from ..particles import cache_downsampled, check_box, load_particles
from ..layout import RunLayout

#: Stacks smaller than this (bytes, float32) are read into memory once;
#: larger ones stay memory-mapped.
IN_MEMORY_BYTES = 4 * 1024 ** 3


class TrainingData:
    """The particles of a run: images downsampled once into a cached stack
    (``RUN/cache/particles_BOX.mrcs``, in memory when they fit), poses and
    CTF as tensors on the device.

    ``particles_path``/``datadir``: the star or .cs file and its stacks'
    folder; ``box``: the training box (even, at most the particles'; None:
    theirs); ``run_dir``: the stage-1 run whose cache folder holds the
    downsampled stack; ``ctx``: the process's ``DistContext`` (the main
    process writes the cache, the others wait). Attributes: ``D`` and
    ``apix`` (training box and its pixel size, Angstrom), ``box0`` and
    ``apix0`` (the particles'), ``rotations`` (N, 3, 3), ``shifts`` (N, 2,
    Angstrom), ``ctf`` (N, 8). ValueError naming the file for several pixel
    sizes or an invalid box.
    """

    def __init__(self, particles_path, datadir, box, run_dir, ctx, log=print,
                 defer_images=False):
        particles = load_particles(particles_path, datadir=datadir)
        apix0 = np.unique(np.round(particles.apix, 5))
        if len(apix0) != 1:
            raise ValueError("%s: particles have several pixel sizes %s; "
                             "train on one optics setting at a time"
                             % (particles_path, apix0.tolist()))
        self.particles, self.device = particles, ctx.device
        self.box0, self.apix0 = int(particles.box), float(apix0[0])
        if particles.apix_source != "particle file":
            log("%s gives no pixel size: %.4g A/px from the %s"
                % (particles_path, self.apix0, particles.apix_source))
        if box is None:
            self.D = check_box(self.box0, "%s: the particle box" % particles_path)
        else:
            self.D = check_box(box, "--box", self.box0)
        self.apix = self.apix0 * self.box0 / self.D
        self.run_dir, self.ctx, self.log = run_dir, ctx, log
        self.images = None
        dev = self.device
        self.rotations = torch.as_tensor(particles.rotations, dtype=torch.float32, device=dev)
        self.shifts = torch.as_tensor(particles.shifts, dtype=torch.float32, device=dev)
        self.ctf = torch.as_tensor(particles.ctf, dtype=torch.float32, device=dev)
        if not defer_images:
            self.open_images()

    def open_images(self):
        """Downsample the particles into the run's cache (the main process;
        the others wait) and open the stack: the first write into the run
        folder, so ``defer_images`` lets a stage check every input first."""
        particles, ctx, log, run_dir = self.particles, self.ctx, self.log, self.run_dir
        if self.D != self.box0:
            cache = RunLayout(run_dir).cached_particles(self.D)
            cache.parent.mkdir(parents=True, exist_ok=True)
            if ctx.is_main:
                log("downsampling %d particles %d -> %d px (%s)"
                    % (particles.n, self.box0, self.D, cache))
                cache_downsampled(particles, self.D, cache)
            ctx.barrier()
            stack = cache_downsampled(particles, self.D, cache)
        else:
            stack = particles.images
        nbytes = particles.n * self.D * self.D * 4
        self.images = (stack[np.arange(particles.n)] if nbytes <= IN_MEMORY_BYTES
                       else stack)
        return self.images

    @property
    def n(self):
        return self.particles.n

    def load_images(self, idx):
        """Images of particles ``idx`` as a (B, D, D) tensor on the device
        (read in file order, returned in the order asked)."""
        idx = np.asarray(idx)
        order = np.argsort(idx)
        images = np.empty((len(idx), self.D, self.D), dtype=np.float32)
        images[order] = self.images[idx[order]]
        return torch.from_numpy(images).to(self.device, non_blocking=True)


#: Bytes the per-particle loss targets (``LossTargets``) may hold in memory.
TARGET_CACHE_BYTES = 1024 ** 3
#: Particles whose targets are computed at once when filling the cache.
_TARGET_CHUNK = 1024


class LossTargets:
    """What the image loss compares a batch against, computed once per run
    when it fits in :data:`TARGET_CACHE_BYTES`: each particle's CTF times
    the low-pass mask (N, D, D//2 + 1), and its image low-passed (N, D, D),
    both float32. Each is the value the loss would compute at every step
    (the same functions, a chunk of particles at a time), so results do not
    change; a step saves the CTF's evaluation and two FFTs. What does not
    fit is computed per batch as before (the filters are kept first).

    ``data``: the run's ``TrainingData`` (images open); ``lowpass``: the
    (D, D//2 + 1) boolean mask.
    """

    def __init__(self, data, lowpass, budget=None):
        from .. import imaging
        self.imaging, self.data, self.lowpass = imaging, data, lowpass
        budget = TARGET_CACHE_BYTES if budget is None else budget
        n, D = data.n, data.D
        filter_bytes = n * D * (D // 2 + 1) * 4
        image_bytes = n * D * D * 4
        self._filters = self._lowpassed = None
        chunks = [np.arange(lo, min(n, lo + _TARGET_CHUNK)) for lo in range(0, n, _TARGET_CHUNK)]
        if filter_bytes <= budget:
            self._filters = torch.cat([self._compute_filters(torch.as_tensor(c, device=data.device))
                                       for c in chunks])
        if self._filters is not None and filter_bytes + image_bytes <= budget:
            self._lowpassed = torch.cat([self._compute_observed(data.load_images(c))
                                         for c in chunks])

    @property
    def cached(self):
        """What is held in memory: a subset of ('filters', 'images')."""
        return tuple(name for name, value in (("filters", self._filters),
                                              ("images", self._lowpassed))
                     if value is not None)

    def _compute_filters(self, t):
        data = self.data
        return self.imaging.compute_ctf(data.ctf[t], data.D, data.apix) * self.lowpass

    def _compute_observed(self, images):
        return self.imaging.apply_fourier_mask(images, self.lowpass)

    def filters(self, t):
        """CTF x low-pass (B, D, D//2 + 1) of the particles ``t`` (a tensor of indices)."""
        return self._filters[t] if self._filters is not None else self._compute_filters(t)

    def observed(self, t, images):
        """The low-passed ``images`` (B, D, D) of the particles ``t``."""
        return (self._lowpassed[t] if self._lowpassed is not None
                else self._compute_observed(images))
