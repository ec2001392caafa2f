"""A dependency-free progress bar: redraws in place on a terminal, prints every 10% otherwise (logs stay short)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, stream=sys.stderr) -> None:
        self.total, self.label, self.stream = max(1, total), label, stream
        self.n, self.t0, self.tty = 0, time.time(), stream.isatty()
        self._last_decile = -1

    def update(self, info: str = "") -> None:
        self.n += 1
        frac = self.n / self.total
        if self.tty:
            filled = int(30 * frac)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.n}/{self.total} {info} "
                              f"{time.time() - self.t0:.0f}s")
            self.stream.flush()
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            print(f"{self.label} {self.n}/{self.total} {info}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
