"""The one exception type for problems a user can cause and fix."""

MESSAGE_LIMIT = 4000  # characters: a message quoting a 2M-cell grid stays readable (middle elided)


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to about `limit` characters, its middle elided and the cut counted."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} ... ({len(text) - 2 * keep:,} characters cut) ... {text[-keep:]}"


class ArcError(Exception):
    """A user-fixable problem (bad file, bad task, bad config).

    The message names what is wrong and where (file, task, pair, field) and says what to do.
    The CLI prints it on one line and exits non-zero, without a traceback. Its size is bounded,
    since it may quote user data.
    """

    def __init__(self, *args):
        super().__init__(*(bounded(a) if isinstance(a, str) else a for a in args))
