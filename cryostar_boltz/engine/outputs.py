"""Output folders owned by the run or command that wrote them.

Every folder the engine writes (a training run, its ``density/`` run, the
``--out`` of simulate, generate, sample-prior, analyze and plot) holds a record,
``run.json`` (``layout.RUN_RECORD``): the command, a run id, the date, and
the request (inputs and options) that made it. Before a command writes
anything it asks :func:`claim` what the folder holds:

- nothing (absent, empty, or only files the engine never writes): a new
  output folder;
- the outputs of the same command with the same request: ``continue``
  (an interrupted generate or analyze finishes; plot, whose viewers
  redraw into one folder, continues any plot folder);
- anything else the engine wrote (another run, another command, the same
  command with other options, or engine outputs without a record):
  refused with one line naming the folder and what it holds, unless
  ``--overwrite`` (remove every output the layout knows there, and only
  those; a user's other files stay) or, for training, ``--resume``.
  ``--overwrite`` replaces only the outputs of the same command: another
  command's folder (a simulation whose stacks a star file points to, a
  training run) is never emptied, nor a folder holding one of the
  command's own inputs.

:func:`claim` changes nothing on disk, so commands call it before any
work; :func:`prepare` then removes replaced outputs, makes the folder and
writes the record. :func:`created_folder` removes a folder a failed
command made when nothing but the record is in it.
"""
import datetime
import json
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from . import layout
from .io import read_json, save_json, write_error

#: command -> the glob patterns of what it writes in the folder it owns.
OUTPUTS = {"train": layout.RUN_OUTPUTS, "train-density": layout.DENSITY_OUTPUTS,
           "generate": layout.GENERATE_OUTPUTS, "sample-prior": layout.SAMPLE_OUTPUTS,
           "analyze": layout.ANALYZE_OUTPUTS, "plot": layout.PLOT_OUTPUTS,
           "simulate": layout.SIMULATE_OUTPUTS, "select": layout.SELECT_OUTPUTS,
           "reconstruct": layout.RECONSTRUCT_OUTPUTS}
#: Commands whose file names start with their ``--name``.
NAMED = ("generate", "simulate")
#: Commands that continue a folder of their own whatever its request.
ALWAYS_CONTINUE = ("plot",)
#: Commands that continue their folder only with --resume.
RESUMABLE = ("train", "train-density")

NEW, CONTINUE, REPLACE = "new", "continue", "replace"


def read_record(folder):
    """The record (dict) of ``folder``, or None; ValueError naming the file
    when it is not a JSON object."""
    path = Path(folder) / layout.RUN_RECORD
    record = read_json(path)  # ValueError naming the file when corrupt
    if record is not None and not isinstance(record, dict):
        raise ValueError("%s: expected a JSON object" % path)
    return record


def describe(record, folder):
    """``the train run of 2026-12-04 21:00 (particles p.star, reference
    r.pdb)``: what a folder holds, for messages."""
    if record is None:
        names = sorted(p.name for p in engine_files(folder))
        return "outputs of an earlier command (%s)" % ", ".join(names[:4])
    inputs = record.get("inputs") or {}
    shown = ", ".join("%s %s" % (k, Path(str(v)).name) for k, v in inputs.items()
                      if v not in (None, "", [], {}))
    return "the %s %s of %s%s" % (
        record.get("command", "?"),
        "run" if record.get("command") in RESUMABLE else "outputs",
        record.get("created", "an unknown date"), " (%s)" % shown if shown else "")


def engine_files(folder):
    """Entries of ``folder`` whose names only the engine writes."""
    folder = Path(folder)
    return [folder / name for name in layout.ENGINE_NAMES if (folder / name).exists()]


def _patterns(command, name=None):
    return [p % name if "%s" in p else p for p in OUTPUTS[command]]


def owned_files(folder, command, name=None, generic=True):
    """Entries of ``folder`` matching what ``command`` writes (generate:
    files of base ``name``); without ``generic``, patterns that match any
    name (plot's ``*.png``) are left out, so that a folder whose owner is
    unknown keeps a user's files."""
    folder = Path(folder)
    found = {}
    for pattern in _patterns(command, name):
        if "%s" in pattern or (not generic and pattern.startswith("*")):
            continue
        for path in folder.glob(pattern):
            found[path] = None
    return list(found)


#: Options that never change what a command writes.
NOT_REQUEST = ("out", "overwrite", "debug", "threads", "device", "func", "command")


def request_of_args(args, paths=()):
    """What ``run.json`` records of an argparse namespace: every option but
    those of ``NOT_REQUEST``, the ``paths`` options (one path or a list)
    made absolute, so a rerun from another folder is the same request."""
    def absolute(value):
        if isinstance(value, (list, tuple)):
            return [absolute(v) for v in value]
        return str(Path(value).absolute()) if value else value
    return {key: absolute(value) if key in paths else value
            for key, value in vars(args).items() if key not in NOT_REQUEST}


def input_paths(args, skip=("out",)):
    """The existing files and folders an argparse namespace names (every
    option value, lists included, but ``skip``): what ``--overwrite`` must
    never remove."""
    found = []
    for key, value in vars(args).items():
        if key in skip:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, Path)) and str(item) and Path(item).exists():
                found.append(Path(item))
    return found


def _check_keep(folder, keep):
    """ValueError when replacing ``folder`` would remove one of ``keep``
    (the command's own inputs): the folder itself or anything inside it."""
    here = folder.resolve()
    for path in keep:
        if path is None or not str(path):
            continue
        target = Path(path).resolve()
        if target == here or here in target.parents:
            raise ValueError("%s holds %s, an input of this command: --overwrite "
                             "would delete it; give another --out" % (folder, path))


def claim(folder, command, request, inputs=None, overwrite=False, resume=False,
          option="--out", keep=()):
    """What running ``command`` with ``request`` (a JSON-ready dict) into
    ``folder`` means: NEW, CONTINUE or REPLACE; ValueError (one line naming
    ``folder``) when the folder holds other outputs and neither
    ``overwrite`` nor (training) ``resume`` is given, or when replacing
    them would remove one of ``keep`` (the command's input files and
    folders, see :func:`input_paths`). Changes nothing."""
    folder = Path(folder)
    named = "%s %s" % (option, folder) if option else str(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError("%s is a file, not a folder" % named)
    if not folder.exists():
        if resume:
            raise FileNotFoundError("%s not found: nothing to resume; run the command "
                                    "without --resume" % folder)
        above = next((p for p in folder.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise ValueError("%s cannot be made: %s is a file, not a folder"
                             % (named, above))
        return NEW
    record = read_record(folder)
    if record is None and not engine_files(folder):
        if resume and command in RESUMABLE:
            raise FileNotFoundError("%s: no %s: not a %s folder to resume"
                                    % (folder, layout.CONFIG,
                                       "training run" if command == "train"
                                       else "density run"))
        return NEW
    if overwrite:
        _check_keep(folder, keep)
    other = record is not None and record.get("command") not in (None, command)
    if other and not resume:
        # another command's outputs (a simulation's stacks, a training run)
        # may be what this command's inputs point to: never replaced
        raise ValueError("%s holds %s, which a %s never replaces (not even with "
                         "--overwrite); give another %s"
                         % (folder, describe(record, folder), command, option or "folder"))
    if overwrite:
        return REPLACE
    if record is None and command in ALWAYS_CONTINUE and set(engine_files(folder)) <= set(
            owned_files(folder, command)):
        return CONTINUE  # e.g. a plot folder written before records existed
    same = record is not None and record.get("command") == command
    if same and (command in ALWAYS_CONTINUE
                 or (command not in RESUMABLE and record.get("request") == _jsonable(request))):
        return CONTINUE
    if resume and command in RESUMABLE and (same or record is None):
        return CONTINUE
    held = describe(record, folder)
    if resume:
        raise ValueError("%s holds %s, not a %s run to resume" % (folder, held, command))
    other = ", or another %s" % option if option else ""
    if command in RESUMABLE:
        raise ValueError("%s holds %s; use --resume to continue it, --overwrite to "
                         "replace it%s" % (folder, held, other))
    changes = _request_changes(record.get("request") if same else None, request)
    raise ValueError("%s holds %s%s; give --overwrite to replace them%s"
                     % (folder, held, changes, other))


def _request_changes(saved, request, most=3):
    """", made with other options (--k 10 there, 4 now)": what differs
    between a folder's recorded ``saved`` request and this ``request``
    (option names as on the command line); "" when either is missing."""
    if not isinstance(saved, dict):
        return ""
    request = _jsonable(request)
    keys = [k for k in sorted(set(saved) | set(request)) if saved.get(k) != request.get(k)]
    if not keys:
        return ""
    said = ["--%s %s there, %s now" % (k.replace("_", "-"), _shown(saved.get(k)),
                                        _shown(request.get(k))) for k in keys[:most]]
    more = "; and %d more" % (len(keys) - most) if len(keys) > most else ""
    return ", made with other options (%s%s)" % ("; ".join(said), more)


def _shown(value):
    return "unset" if value is None else json.dumps(value) if isinstance(value, (dict, list)) \
        else str(value)


def prepare(folder, command, request, inputs=None, action=NEW, name=None):
    """Act on :func:`claim`'s ``action``: REPLACE removes every entry the
    layout knows in ``folder`` (the record's command's outputs, or those of
    every command for a folder without a record); NEW and REPLACE then
    make the folder and write its record. Returns the record."""
    folder = Path(folder)
    if action == REPLACE:
        record = read_record(folder)
        commands = [record["command"]] if record and record.get("command") in OUTPUTS \
            else list(OUTPUTS)
        old_name = (record or {}).get("request", {}).get("name") if record else None
        for old in commands:
            for path in owned_files(folder, old, generic=record is not None) + \
                    _named_files(folder, old, old_name):
                remove(path)
        for path in engine_files(folder):
            remove(path)
    if action == CONTINUE:
        record = read_record(folder)
        if record is not None:
            return record
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(err, folder, "output folder of %s" % command) from None
    record = {"command": command, "id": uuid.uuid4().hex,
              "created": datetime.datetime.now().isoformat(timespec="seconds"),
              "inputs": _jsonable(inputs or {}), "request": _jsonable(request)}
    save_json(folder / layout.RUN_RECORD, record)
    return record


def _named_files(folder, command, name):
    if command not in NAMED or not name:
        return []
    found = []
    for pattern in _patterns(command, name):
        found += list(Path(folder).glob(pattern))
    return found


def remove(path):
    """Remove a file or a folder tree; OSError naming the path."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError as err:
        raise OSError(err.errno, "cannot remove %s (replacing an old output): %s"
                      % (path, err.strerror or err)) from None


def _only_record(folder):
    return all(p.name == layout.RUN_RECORD for p in Path(folder).iterdir())


def no_checkpoint(folder):
    """Whether a training run folder holds no checkpoint to resume from."""
    checkpoints = Path(folder) / layout.CHECKPOINTS
    return not checkpoints.is_dir() or not any(checkpoints.iterdir())


@contextmanager
def created_folder(folder, is_skeleton=_only_record, refusals=()):
    """Around a command's work: when it fails, a folder it made (absent
    before) is removed when ``is_skeleton(folder)`` (default: it holds
    nothing but the record; training runs: no checkpoint yet), or whatever
    it holds when the failure is one of ``refusals`` (exception classes:
    a command whose outputs are cheap to make again), so a refused command
    leaves nothing behind (in a folder that existed, the record it wrote
    goes). An interrupted command keeps its outputs to continue from."""
    folder = Path(folder)
    existed = folder.exists()
    record = folder / layout.RUN_RECORD
    had_record = record.exists()
    try:
        yield folder
    except BaseException as err:
        refused = isinstance(err, tuple(refusals))
        if not existed and folder.is_dir() and (refused or is_skeleton(folder)):
            shutil.rmtree(folder, ignore_errors=True)
        elif existed and refused and not had_record:
            record.unlink(missing_ok=True)
        raise


def _jsonable(value):
    """``value`` as it reads back from JSON (tuples as lists, paths as str)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
