"""The one exception type for bad user input (files, config, command lines)."""


class InputError(Exception):
    """Bad input from the user: a missing or malformed file, an unknown name, a config mistake.

    The message is one line that names the offending file or key; entry points print it without a traceback.
    """
