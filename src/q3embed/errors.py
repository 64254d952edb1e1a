"""Errors raised at q3embed's boundaries. Each names the bad input and what is accepted."""


class Q3EmbedError(Exception):
    """Base class for errors that the CLI prints as one line and exits non-zero."""


class ModelNotFoundError(Q3EmbedError, FileNotFoundError):
    pass


class CheckpointError(Q3EmbedError, ValueError):
    pass


class InputFileError(Q3EmbedError, ValueError):
    pass
