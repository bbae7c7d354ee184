"""The training loop's one hook, in a module without torch so that callers can name its type
without importing the loop."""
from __future__ import annotations

from typing import Callable

EpochHook = Callable[[int, float], bool]
"""(epoch, validation metric `config.select`) -> keep training? Called after every epoch's
validation; a search's early-stopping rule answers False to end a hopeless trial. The answer
after the last epoch is ignored."""
