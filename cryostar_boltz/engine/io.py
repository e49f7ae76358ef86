"""Atomic file writes: a reader, or a process killed mid-write, sees the old
file or the complete new one, never a truncated file.

Every writer of the engine goes through here: the data goes to a fresh
temporary name beside the target (unique per process and call, so two
writers never collide), which is then renamed over the target
(``os.replace``, atomic on POSIX within a file system).

A failed write (a full disk, a read-only or forbidden folder) raises an
``OSError`` of the same errno whose message names the target and what was
being written, in one line; the temporary is removed and the old file, if
any, stays as it was.
"""
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def temporary_sibling(path):
    """A fresh hidden name beside ``path`` (same folder, so the final rename
    stays on one file system)."""
    path = Path(path)
    return path.with_name(".%s.%d.%s.tmp" % (path.name, os.getpid(),
                                             uuid.uuid4().hex[:8]))


def write_error(err, path, what=None):
    """``err`` (an OSError) as an OSError of the same errno whose message
    names ``path`` and ``what`` was being written."""
    reason = err.strerror or str(err)
    return OSError(err.errno, "cannot write %s%s: %s" % (
        path, " (%s)" % what if what else "", reason))


@contextmanager
def atomic_path(path, what=None):
    """Yield a temporary path to write ``path`` through (for writers that
    take a file name, such as ``mrcfile.new``); it becomes ``path`` when the
    block ends without error and is removed otherwise. Missing parent
    folders are created. ``what``: what is written, for the message of an
    OSError (see the module's docstring)."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        if str(path) in str(err):
            raise
        raise write_error(err, path, what) from None
    except BaseException:
        _discard(tmp)
        raise


def reserve(path):
    """Allocate on disk now every block of the file at ``path`` (its
    current size): a file written through a memory map (``mrcfile.new_mmap``,
    ``np.memmap``) is sparse, and a full disk would then kill the process
    with SIGBUS at the first page that cannot be stored. With the blocks
    reserved, a full disk raises OSError (ENOSPC) here instead, which
    :func:`atomic_path` reports in one line naming the target. Where the
    platform has no ``os.posix_fallocate`` (macOS) the file is left as is."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None:
        return
    size = os.path.getsize(path)
    if size == 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        fallocate(fd, 0, size)
    finally:
        os.close(fd)


def _discard(tmp):
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write(path, write, binary=False, what=None):
    """Run ``write(fh)`` on a new file opened on a temporary name beside
    ``path`` (text, or bytes with ``binary``), then rename it to ``path``."""
    with atomic_path(path, what) as tmp:
        with open(tmp, "xb" if binary else "x") as fh:
            write(fh)
    return Path(path)


def write_text(path, text):
    """``path`` holds ``text`` (UTF-8), written atomically."""
    return atomic_write(path, lambda fh: fh.write(text))


def save_array(path, array):
    """``np.save`` written atomically: never a truncated ``.npy``."""
    return atomic_write(path, lambda fh: np.save(fh, np.asarray(array)),
                        binary=True)


def save_npz(path, **arrays):
    """``np.savez`` written atomically."""
    return atomic_write(path, lambda fh: np.savez(fh, **arrays), binary=True)


def save_json(path, obj):
    """JSON (numpy scalars and arrays, tensors and paths converted), indented,
    written atomically."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path):
    """The JSON document at ``path``, or None when there is no such file;
    ValueError naming the file when it is not valid JSON."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with path.open() as fh:
            return json.load(fh)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("%s is not valid JSON: %s" % (path, err)) from None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "detach"):  # a torch tensor (torch is not imported here)
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)
