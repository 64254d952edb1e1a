"""The one progress bar of the package: tqdm on a terminal, periodic log lines off one.

Long work (index builds, evaluation, embedding, reranking, mining, filtering, training, merging)
reports through :func:`tqdm`. On a terminal that is tqdm's live bar on stderr. Under nohup, in CI
or through a pipe a live bar would print nothing useful (or one endless ``\\r`` line), so there
the bar is tqdm-loggable's ``tqdm_logging``: every ``LOG_EVERY`` it logs one line

    Progress on:indexing 1.2k/5.2k rate:41.0chunk/s remaining:01:36 elapsed:00:29 postfix:-

(done/total, rate, ETA) to the ``tqdm_loggable.tqdm_logging`` logger at INFO. Library code only
logs; the CLI routes that logger to stderr (``q3embed.cli.main``), an application routes it wherever
its logging goes. No torch import here: this sits on the bottom floor with config and errors.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

#: how often a progress line is logged off a terminal
LOG_EVERY = timedelta(seconds=10)
#: the logger tqdm-loggable writes progress lines to
PROGRESS_LOGGER = "tqdm_loggable.tqdm_logging"


def tqdm(iterable=None, *, file=None, **kwargs):
    """``tqdm.tqdm(iterable, **kwargs)`` on a terminal; tqdm-loggable's log-line bar otherwise."""
    stream = file or sys.stderr
    if kwargs.get("disable"):
        from tqdm import tqdm as plain

        return plain(iterable, disable=True, **{k: v for k, v in kwargs.items() if k != "disable"})
    if is_terminal(stream):
        from tqdm.auto import tqdm as live

        return live(iterable, file=stream, **kwargs)
    bar = _log_lines_class()
    bar.set_log_rate(LOG_EVERY)
    return bar(iterable, file=stream, **kwargs)


def _log_lines_class():
    from tqdm_loggable.tqdm_logging import tqdm_logging

    class ProgressLines(tqdm_logging):
        """tqdm-loggable's bar, quiet for work too short to report.

        tqdm-loggable logs a line when the bar opens and when it closes; a one-second job (or one that
        fails at once) would print two progress lines around a one-line error. Here the first line comes
        LOG_EVERY after the start, and the closing line only when an earlier one was printed.
        """

        def display(self, **kwargs):
            if not hasattr(self, "_reported"):  # the call from tqdm's __init__: start the clock only
                self._reported = False
                self.last_log_message_at = datetime.now()
                return
            if self.disable and not self._reported:  # closing a bar that never reported
                return
            before = self.last_log_message_at
            super().display(**kwargs)
            self._reported = self._reported or self.last_log_message_at != before

    return ProgressLines


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like object without isatty
        return False
