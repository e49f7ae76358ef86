"""The error every particle reader and writer raises for bad input."""


class DataError(ValueError):
    """Bad particle input (a STAR, .cs or stack file): the message names the
    file and the problem, in one line."""
