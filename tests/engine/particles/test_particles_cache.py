"""The downsampled copy of the particle images."""
import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.particles import cache_downsampled, fourier_crop, load_particles


def test_cache_downsampled(real_data, tmp_path):
    p = load_particles(real_data / "relion31.star")
    cache = cache_downsampled(p, 64, tmp_path / "cache.mrcs", chunk=2)
    assert len(cache) == 5 and cache.box == 64
    np.testing.assert_allclose(cache[:], fourier_crop(p.images[:], 64), atol=1e-5)
    with mrcfile.open(tmp_path / "cache.mrcs") as mrc:
        assert mrc.voxel_size.x == pytest.approx(2.806 * 4, rel=1e-6)
        assert mrc.header.dmax == pytest.approx(cache[:].max(), rel=1e-5)
    written = (tmp_path / "cache.mrcs").stat().st_mtime_ns
    cache_downsampled(p, 64, tmp_path / "cache.mrcs")
    assert (tmp_path / "cache.mrcs").stat().st_mtime_ns == written
