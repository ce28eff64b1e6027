"""The one exception type for failures a user can cause and fix."""


class UserError(Exception):
    """A failure with a one-line message that tells the user what to do.

    The command line prints `str(error)` alone, without a traceback.
    """
