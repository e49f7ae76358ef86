"""A training run's log, held until its inputs are accepted.

A stage reads and checks every input before it makes its run folder; what
it logs meanwhile (the CPU threads, the derived options, the focus mask's
particles...) is kept and written only once the checks pass
(:meth:`HeldLog.release`), so a refused command prints its refusal and
nothing else. A stage that stops for another reason (a bug, Ctrl-C)
writes what it held first, for context.

Once the run folder is made, every line also goes to its ``run.log``
(:meth:`HeldLog.keep_in`), each prefixed with its local time, appended on
``--resume``: the record of what the run chose and how it went that
cryoDRGN's ``run.log`` and RELION's ``run.out`` give, kept with the
outputs rather than in a terminal's scrollback.
"""
import time

#: What the command line reports as a refusal of the inputs, in one line
#: (``cli.main``): a run stopped by one of these prints nothing else.
REFUSALS = (ValueError, OSError, MemoryError)


class HeldLog:
    """``log(text)`` kept while held, then written by ``write`` (``print``
    by default) on :meth:`release`, and every later line at once. Used as
    a context manager around a stage's checks: an exception other than a
    refusal (:data:`REFUSALS`) releases what was held before it
    propagates; a refusal drops it."""

    def __init__(self, write=print):
        self.write = write
        self.held = []
        self.file = None

    def __call__(self, text=""):
        if self.held is None:
            self.write(text)
            self.note(text)
        else:
            self.held.append(text)

    def keep_in(self, path, header):
        """Append every line from now on (and those still held, when they
        are released) to the text file ``path``, after the line
        ``header``; OSError when it cannot be opened."""
        self.file = open(path, "a", encoding="utf-8")
        self.note(header)

    def note(self, text):
        """Write ``text`` to the log file only (nothing without one), each
        of its lines prefixed with the local date and time."""
        if self.file is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.file.write("".join("%s  %s\n" % (stamp, line)
                                for line in str(text).splitlines() or [""]))
        self.file.flush()

    def close(self):
        """Close the log file, if any; later lines go to ``write`` only."""
        if self.file is not None:
            self.file.close()
            self.file = None

    @property
    def holding(self):
        """Whether lines are still being held."""
        return self.held is not None

    def release(self):
        """Write the held lines; from now on every line is written at once."""
        held, self.held = self.held or [], None
        for text in held:
            self(text)

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        if kind is not None and not issubclass(kind, REFUSALS):
            self.release()
        return False
