"""A dependency-free progress bar: redraws in place on a terminal (at most twice a second), prints every 10%
otherwise (logs stay short). `info` may be a function: it is called only when a line is written, so a training
loop can show device-side sums without syncing with the device every step."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable


class Progress:
    def __init__(self, total: int, label: str, stream=sys.stderr) -> None:
        self.total, self.label, self.stream = max(1, total), label, stream
        self.n, self.t0, self.tty = 0, time.time(), stream.isatty()
        self._last_decile = -1
        self._last_draw = 0.0

    def update(self, info: str | Callable[[], str] = "") -> None:
        self.n += 1
        frac = self.n / self.total
        if self.tty:
            now = time.time()
            if now - self._last_draw < 0.5 and self.n < self.total:
                return
            self._last_draw = now
            info = info() if callable(info) else info
            filled = int(30 * frac)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.n}/{self.total} {info} "
                              f"{time.time() - self.t0:.0f}s")
            self.stream.flush()
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            info = info() if callable(info) else info
            print(f"{self.label} {self.n}/{self.total} {info}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
