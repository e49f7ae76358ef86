"""A training run's log, held until its inputs are accepted.

A stage reads and checks every input before it makes its run folder; what
it logs meanwhile (the CPU threads, the derived options, the focus mask's
particles...) is kept and written only once the checks pass
(:meth:`HeldLog.release`), so a refused command prints its refusal and
nothing else. A stage that stops for another reason (a bug, Ctrl-C)
writes what it held first, for context.
"""

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

    def __call__(self, text=""):
        if self.held is None:
            self.write(text)
        else:
            self.held.append(text)

    @property
    def holding(self):
        """Whether lines are still being held."""
        return self.held is not None

    def release(self):
        """Write the held lines; from now on every line is written at once."""
        held, self.held = self.held or [], None
        for text in held:
            self.write(text)

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        if kind is not None and not issubclass(kind, REFUSALS):
            self.release()
        return False
