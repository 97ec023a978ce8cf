"""The one exception type for problems a user can cause and fix."""


class ArcError(Exception):
    """A user-fixable problem (bad file, bad task, bad config).

    The message names what is wrong and where (file, task, pair, field) and says what to do.
    The CLI prints it on one line and exits non-zero, without a traceback.
    """
