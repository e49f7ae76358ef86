"""Progress reporting and the per-step metrics table of a run.

A live line (carriage return) on a terminal; a plain line every few seconds
in a log file (Scipion's run log), so logs stay readable.
"""
import csv
import math
import sys
import time
from pathlib import Path

from ..io import atomic_write, write_error


class Progress:
    """Prints ``label [done/total] terms | rate`` at most every ``interval`` s."""

    def __init__(self, total, label="", stream=None, interval=None, enabled=True,
                 start_at=0):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.start = self.last = time.perf_counter()
        self.done = self.first = start_at
        self.shown = None  # the last count printed

    def update(self, done, terms=None, rate=None, force=False):
        """Report ``done`` steps; printed when ``interval`` s have passed
        since the last line, or with ``force`` (once per count: a count
        already printed is not printed again)."""
        self.done = done
        now = time.perf_counter()
        if not self.enabled or done == self.shown or \
                (not force and now - self.last < self.interval):
            return
        self.last, self.shown = now, done
        text = "%s [%d/%d]" % (self.label, done, self.total)
        if terms:
            text += " " + " ".join("%s %.4g" % kv for kv in terms.items())
        if rate:
            text += " | %.0f %s/s" % rate
        if self.first < done < self.total:
            remaining = (now - self.start) / max(done - self.first, 1) * (self.total - done)
            text += ", %s left" % _duration(remaining)
        if self.tty:
            self.stream.write("\r" + text[:200].ljust(120))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    if seconds >= 60:
        return "%dm%02ds" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class MetricsTable:
    """Append-only CSV of per-step metrics; truncated to a step on resume."""

    def __init__(self, path, columns):
        self.path, self.columns = Path(path), list(columns)
        self._file = None

    def open(self, keep_until_step=None):
        rows = []
        if keep_until_step is not None and self.path.exists():
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f)
                        if int(r["step"]) <= keep_until_step]
        def write(f):
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        atomic_write(self.path, write, what="metrics table")
        try:
            self._file = self.path.open("a", newline="")
        except OSError as err:
            raise write_error(err, self.path, "metrics table") from None
        self._writer = csv.DictWriter(self._file, self.columns,
                                      extrasaction="ignore")

    def write(self, row):
        """Append ``row``; an OSError (a full disk) names the table."""
        try:
            self._writer.writerow({k: ("%.6g" % v if isinstance(v, float) else v)
                                   for k, v in row.items()})
            self._file.flush()
        except OSError as err:
            raise write_error(err, self.path, "metrics table") from None

    def close(self):
        if self._file:
            self._file.close()
            self._file = None


def read_metrics(path):
    """The metrics table as a dict of float lists (for plots and tests).
    Empty cells (a column measured once per epoch, on the other rows) and
    NaN are ``math.nan`` itself, so two readings of one table compare
    equal."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: [_number(r[k]) for r in rows] for k in rows[0]}


def _number(text):
    if text in ("", None):
        return math.nan
    value = float(text)
    return math.nan if value != value else value
