"""The package's error for bad input, in a module of its own so that every layer, the numpy
core included, can raise it without importing any I/O."""


class InputError(ValueError):
    """Bad input; the message says what was wrong and where (file, line, record)."""
