"""Progress for long loops: a tqdm bar on a terminal, plain lines elsewhere.

A bar redrawn into a log file or a pipe is thousands of carriage returns;
there, `progress` writes one line per tenth of the work instead, e.g.
"faces in ckplus: 654/1308 (50%) 12.1 s".
"""

import sys
import time


class _Lines:
    """Iterates `iterable`, printing a line at each tenth of `total`."""

    def __init__(self, iterable, desc, total, unit, stream):
        self.iterable, self.desc, self.unit, self.stream = iterable, desc, unit, stream
        self.total = total if total is not None else _length(iterable)

    def __iter__(self):
        start, next_mark, count = time.time(), 0.1, 0
        for count, item in enumerate(self.iterable, start=1):
            yield item
            if self.total and count / self.total >= next_mark:
                self._line(count, start)
                next_mark = (int(count / self.total * 10) + 1) / 10
        if not self.total:
            self._line(count, start)

    def __len__(self):
        return self.total

    def _line(self, count, start):
        of = f"/{self.total} ({count / self.total:.0%})" if self.total else f" {self.unit}"
        print(f"{self.desc}: {count}{of} {time.time() - start:.1f} s", file=self.stream,
              flush=True)


def _length(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def progress(iterable, desc, enabled=True, total=None, unit="it", leave=False, stream=None):
    """Wraps `iterable` with progress shown on `stream` (default stderr)."""
    stream = stream or sys.stderr
    if not enabled:
        return iterable
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, file=stream)
    return _Lines(iterable, desc, total, unit, stream)


def duration_text(seconds):
    """A duration as a log reads it: "45s", "12m03s", "2h05m"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class WorkClock:
    """Elapsed and remaining time of a long run whose work is counted in
    units (e.g. training steps) planned up front.

    `done(units)` counts work finished in this process; `done(units,
    timed=False)` counts work found finished by an earlier process (a
    resumed run), which shortens what remains without speeding up the rate.
    The remaining time is the units left at this process' measured seconds
    per unit (setup, evaluation and saving included).
    """

    def __init__(self, total_units, stream=None):
        self.total = max(0, int(total_units))
        self.stream = stream
        self.start = time.time()
        self.timed = 0
        self.untimed = 0

    def done(self, units, timed=True):
        if timed:
            self.timed += int(units)
        else:
            self.untimed += int(units)

    def elapsed(self):
        return time.time() - self.start

    def remaining(self):
        """Seconds left, or None before any timed unit."""
        if not self.timed:
            return None
        left = max(0, self.total - self.timed - self.untimed)
        return left * self.elapsed() / self.timed

    def line(self, text):
        """Prints `text | elapsed .. | remaining ~..` as one flushed line."""
        left = self.remaining()
        tail = f" | remaining ~{duration_text(left)}" if left is not None else ""
        print(f"{text} | elapsed {duration_text(self.elapsed())}{tail}",
              file=self.stream or sys.stdout, flush=True)
