"""`index build --ray` speaks in q3embed's words: progress says what is written, and Ray's own log
lines (its C++ core worker writes straight to stderr) go to a file the summary names."""

import logging
import os
import sys

from q3embed.cli.index_ray import ray_output_to
from q3embed.distributed.ingest import progress_line


def test_progress_says_what_is_written_in_words():
    early = progress_line(200, 5.0, 0, 8192)
    assert early == "ray: embedded 200 documents (40.0 docs/s); written when 8,192 chunks fill a part, or at the end"
    assert "0 parts" not in early
    assert "; 3 parts of up to 8,192 chunks written" in progress_line(30_000, 10.0, 3, 8192)


def test_ray_output_goes_to_the_log_and_ours_to_the_terminal(tmp_path, capfd):
    data_logger = logging.getLogger("ray.data")
    own = logging.StreamHandler()  # as Ray Data has one of its own, on stderr
    data_logger.addHandler(own)
    log = tmp_path / "ray.log"
    with ray_output_to(log):
        os.write(2, b"[2026-12-07 10:00:00,000 E 123 123] core_worker.cc:500: lost a worker\n")
        logging.getLogger("ray.data").warning("Progress bars disabled")
        print("ray: embedded 200 documents", file=sys.stderr)
    print("built idx", file=sys.stderr)
    data_logger.removeHandler(own)
    err = capfd.readouterr().err
    assert "core_worker.cc" not in err and "Progress bars" not in err and "ray: embedded 200 documents" in err and "built idx" in err, err
    assert "core_worker.cc:500: lost a worker" in log.read_text() and "Progress bars disabled" in log.read_text()
