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
