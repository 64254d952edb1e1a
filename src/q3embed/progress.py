"""The one progress bar of the package: tqdm on a terminal, periodic log lines off one.

Long work (index builds, evaluation, embedding, reranking, mining, filtering, training, merging)
reports through :func:`tqdm`. On a terminal that is tqdm's live bar on stderr. Under nohup, in CI
or through a pipe a live bar would print nothing useful (or one endless ``\\r`` line), so there
the bar is tqdm-loggable's ``tqdm_logging``: every ``LOG_EVERY`` it logs one line

    Progress on:indexing 1,200/5,200 chunk rate:41.0chunk/s remaining:01:36 elapsed:00:29

(done/total in whole units, rate, ETA; a postfix only when one is set) to the
``tqdm_loggable.tqdm_logging`` logger at INFO. Library code only
logs; the CLI routes that logger to stderr (``q3embed.cli.main``), an application routes it wherever
its logging goes. No torch import here: this sits on the bottom floor with config and errors.
"""

from __future__ import annotations

import logging
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
        Counts are whole numbers (tqdm-loggable prints ``4.00step/28.0step``), and a bar closed
        by an interruption (Ctrl-C) prints no line after the CLI's "interrupted".
        """

        def display(self, **kwargs):
            if not hasattr(self, "_reported"):  # the call from tqdm's __init__: start the clock only
                self._reported = False
                self.last_log_message_at = datetime.now()
                return
            if self.disable and (not self._reported or getattr(self, "_abandoned", False)
                                 or sys.exc_info()[0] is not None):
                return  # closing a bar that never reported, or one an exception (Ctrl-C) left behind
            if self.should_throttle_logging():
                return
            logging.getLogger(PROGRESS_LOGGER).log(self.log_level, progress_line(self.format_dict))
            self._reported = True
            self.last_log_message_at = datetime.now()

        def __del__(self):
            # Collected without close(): its loop was left by an exception (Ctrl-C), which the CLI has
            # already reported; a closing progress line would read as if the work went on.
            self._abandoned = True
            super().__del__()

    return ProgressLines


def progress_line(d: dict) -> str:
    """``Progress on:NAME N/TOTAL UNIT rate:R remaining:T elapsed:T`` from a tqdm ``format_dict``."""
    from tqdm import tqdm as plain

    unit, n, total, rate = d.get("unit") or "it", d.get("n", 0), d.get("total"), d.get("rate")
    if unit == "B":  # bytes read as sizes (tqdm's 1.20GB), every other unit as a whole count
        done = plain.format_sizeof(n, "B", 1024) + (f"/{plain.format_sizeof(total, 'B', 1024)}" if total else "")
    else:
        done = f"{int(n):,}" + (f"/{int(total):,}" if total else "") + f" {unit}"
    speed = "-" if not rate else plain.format_sizeof(rate, "B/s", 1024) if unit == "B" else \
        f"{rate:,.1f}{unit}/s" if rate > 1 else f"{1 / rate:,.1f}s/{unit}"
    left = plain.format_interval((total - n) / rate) if rate and total else "?"
    line = (f"Progress on:{d.get('prefix') or 'work'} {done} rate:{speed} remaining:{left} "
            f"elapsed:{plain.format_interval(d.get('elapsed', 0))}")
    return line + (f" {d['postfix']}" if d.get("postfix") else "")


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like object without isatty
        return False
