"""The engine's folders behind a Scipion object: the training run, analysis
and sample-prior folders a protocol or an output set reads or wrote, and
the multi-model files in them.

Pure file-system checks on the names of
:mod:`cryostar_boltz.engine.layout`: no engine code runs here.
"""
import os
from pathlib import Path

from ..engine.layout import (COARSE_TAG, ENERGIES, LABELS, PROTOCOL_ANALYSIS,
                             PROTOCOL_ENSEMBLE, PROTOCOL_SAMPLES, REFERENCE_STEM,
                             SAMPLES_INFO, RunLayout, structure_patterns)

#: Folders, in a protocol's extra path, where the engine writes outputs.
OUTPUT_FOLDERS = (PROTOCOL_ENSEMBLE, PROTOCOL_SAMPLES, PROTOCOL_ANALYSIS)
#: Parts of the names of engine files that are not ensembles to show.
NOT_ENSEMBLES = (COARSE_TAG + ".", "_displacement.",
                 REFERENCE_STEM + ".")


def is_run_folder(path):
    """Whether ``path`` holds a finished training run."""
    return RunLayout(path).is_finished()


def is_analysis_folder(path):
    """Whether ``path`` is an ``analyze`` output folder (cluster labels)."""
    path = Path(path)
    return (path / LABELS).is_file() and not is_run_folder(path)


def is_sample_folder(path):
    """Whether ``path`` is a ``sample-prior`` output folder."""
    path = Path(path)
    return (path / ENERGIES).is_file() and (path / SAMPLES_INFO).is_file()


def _candidate_paths(obj):
    """Paths an object may name: the run folder its protocol reads, the
    free attributes of a flexibility set's info, its extra folder and the
    folders in it."""
    for getter in ("_getRunDir", "getRunFolder", "getRunDir"):
        if hasattr(obj, getter):
            try:
                value = getattr(obj, getter)()
            except Exception:  # a protocol not run yet: nothing to find
                value = None
            if value:
                yield Path(str(value))
    info = getattr(obj, "getFlexInfo", None)
    if info is not None:
        try:
            flex = info()
        except Exception:
            flex = None
        if flex is not None:
            for _, attr in flex.getAttributes():
                value = attr.get() if hasattr(attr, "get") else None
                if isinstance(value, str) and value:
                    yield Path(value)
                    yield Path(value).parent
    if hasattr(obj, "_getExtraPath"):
        extra = Path(obj._getExtraPath())
        yield extra
        if extra.is_dir():
            for child in sorted(extra.iterdir()):
                if child.is_dir():
                    yield child


def find_folders(obj, accept, project=None, depth=2):
    """Folders of the engine behind ``obj`` (a protocol or an output)
    for which ``accept(path)`` holds: its own, then those of the protocol
    that made it (found in ``project``) and of its inputs (followed
    ``depth`` levels up the workflow). Absolute paths when ``project``
    is given (Scipion paths are project-relative)."""
    found, seen = [], set()
    pending = [(obj, 0)]
    base = Path(project.getPath()) if hasattr(project, "getPath") else None
    while pending:
        current, level = pending.pop(0)
        for path in _candidate_paths(current):
            if base is not None and not path.is_absolute():
                path = base / path
            key = os.path.realpath(str(path))
            if key not in seen and path.is_dir() and accept(path):
                seen.add(key)
                found.append(path)
        if level >= depth:
            continue
        owner = owner_protocol(current, project)
        if owner is not None and owner is not current:
            pending.append((owner, level + 1))
        if hasattr(current, "iterInputAttributes"):
            for _, pointer in current.iterInputAttributes():
                value = pointer.get() if hasattr(pointer, "get") else None
                if value is not None:
                    pending.append((value, level + 1))
                    producer = getattr(pointer, "getObjValue", lambda: None)()
                    if producer is not None and producer is not value:
                        pending.append((producer, level + 1))
    return found


def owner_protocol(obj, project):
    """The protocol that produced an output set (its parent in the
    project), or None."""
    if project is None or hasattr(obj, "_getExtraPath"):
        return None
    parent = getattr(obj, "getObjParentId", lambda: None)()
    if not parent:
        return None
    try:
        return project.getProtocol(int(parent))
    except Exception:  # not a protocol id: an item of a set, a free object
        return None


def find_run_folder(obj, project=None):
    """The training run folder behind ``obj``; FileNotFoundError naming
    ``obj`` without one."""
    runs = find_folders(obj, is_run_folder, project)
    if not runs:
        raise FileNotFoundError("no finished cryostar-boltz training run found "
                                "behind %s" % describe(obj))
    return runs[0]


def describe(obj):
    """``run name (class)`` of a Scipion object, for messages."""
    name = getattr(obj, "getRunName", None) or getattr(obj, "getObjLabel", None)
    try:
        return "%s (%s)" % (name(), obj.getClassName())
    except Exception:
        return type(obj).__name__


def output_folders(protocol):
    """The engine's output folders of a protocol (:data:`OUTPUT_FOLDERS`)."""
    if not hasattr(protocol, "_getExtraPath"):
        return []
    return [Path(protocol._getExtraPath(name)) for name in OUTPUT_FOLDERS
            if Path(protocol._getExtraPath(name)).is_dir()]


def structure_files(folder, patterns=structure_patterns("*")):
    """Multi-model structure files the engine wrote in ``folder`` (full
    atom; coarse copies and viewer outputs left out), sorted."""
    found = []
    for pattern in patterns:
        found += [p for p in Path(folder).glob(pattern) if p.is_file()
                  and not any(tag in p.name for tag in NOT_ENSEMBLES)]
    return sorted(set(found))


def map_files(protocol):
    """The maps (``*.mrc``) in the engine's output folders of a protocol."""
    maps = []
    for folder in output_folders(protocol):
        maps += sorted(folder.glob("*.mrc"))
    return maps
