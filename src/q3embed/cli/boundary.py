"""The CLI's error boundary: an exception becomes one line on stderr and a non-zero exit.

Library code raises errors that name the bad input and what is accepted; here they are printed
as ``q3embed VERB: error: MESSAGE``. An exception that is not a known user mistake still gets one
line, with its type and a pointer to ``--debug``, which re-raises it with the traceback.
"""

from __future__ import annotations

import os
import sys

#: set to 1 to see tracebacks (read only by the CLI)
DEBUG_ENV = "Q3EMBED_DEBUG"
#: one error line is cut here: some libraries put whole HTTP responses in their messages
MAX_MESSAGE = 600

# Errors whose message is already the explanation (the user's input was wrong).
_USER_ERRORS = (ValueError, TypeError, LookupError, OSError, OverflowError)


def report_error(verb: str, error: BaseException) -> int:
    print(f"q3embed {verb}: error: {describe(error)}", file=sys.stderr)
    return 1


def describe(error: BaseException) -> str:
    """One line saying what went wrong."""
    from ..errors import Q3EmbedError

    if isinstance(error, Q3EmbedError):
        text = str(error)
    elif _is_connection_error(error):
        text = f"cannot connect: {_os_message(error) or type(error).__name__}"
    elif isinstance(error, OSError):
        text = _os_message(error)
    elif isinstance(error, KeyError):
        text = str(error.args[0]) if error.args else "missing key"
    elif isinstance(error, _USER_ERRORS):
        text = str(error) or type(error).__name__
    else:
        text = f"{type(error).__name__}: {error} (unexpected; rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _os_message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        hint = {FileExistsError: "choose another path", NotADirectoryError: "expected a directory",
                IsADirectoryError: "expected a file, not a directory"}.get(type(error), "")
        return f"{error.filename}: {error.strerror}" + (f"; {hint}" if hint else "")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _is_connection_error(error: BaseException) -> bool:
    """ConnectionError and the transport errors of httpx (qdrant-client, openai) and requests."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ConnectionError):
            return True
        if type(error).__module__.split(".")[0] in ("httpx", "httpcore", "requests", "urllib3") and \
                "Connect" in type(error).__name__:
            return True
        error = error.__cause__ or error.__context__
    return False


def exit_on_broken_pipe() -> int:
    """stdout's reader went away (``| head``): stop quietly, as Unix tools do.

    Python's own advice: point stdout at devnull so the interpreter's final flush does not raise
    a second BrokenPipeError on the way out.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests), nothing to redirect
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
