"""NNI strategy middleware for ``nni_adapter.run_search``: the stops and counts NNI lacks.

The strategy is wrapped as ``Chain(strategy, GuardedFilter, CountingDeduplication)``; both
write what they see into one :class:`Tally`.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from eqnas.search.nni_api import (Deduplication, DeduplicationHelper, ExecutableModelSpace, Filter, ModelEventType,
                                  ModelStatus, TrainingEndEvent)

TrialEnd = Callable[[dict], None]  # called with the sample when a trial ends (in this process)
Identity = Callable[[dict], Hashable]  # samples with equal identities are one trial


@dataclass
class Tally:
    evaluated: int = 0
    failed: int = 0
    rejected: int = 0
    duplicates: int = 0
    duplicate_ids: set[int] = field(default_factory=set)  # models answered by Deduplication


class GuardedFilter(Filter):
    """NNI's Filter, with the stops NNI lacks (a deadline, a cap on skips, a used-up space), and
    the count of ended trials, from the engine's events.

    It holds every accepted model until its trial ends: NNI's training-service engine keeps only
    weak references and drops the events of models nobody holds (random and grid do not)."""

    def __init__(self, choices: dict[str, list], accept: Callable[[dict], bool], tally: Tally,
                 deadline: float, max_skipped: int, on_trial_end: TrialEnd | None):
        super().__init__(self._accept, patience=max_skipped)
        self.labels = tuple(choices)
        self.space_size = math.prod(len(values) for values in choices.values())
        self.user_accept = accept
        self.tally = tally
        self.deadline = deadline
        self.max_skipped = max_skipped
        self.proposed: set[frozenset] = set()  # distinct samples seen, accepted or not
        self.stop_reason: str | None = None
        self.on_trial_end = on_trial_end
        self.lock = threading.Lock()  # the training-service engine calls back from its own thread
        self.running: dict[int, ExecutableModelSpace] = {}

    def _accept(self, model: ExecutableModelSpace) -> bool:
        self.proposed.add(frozenset(model.sample.items()))
        accepted = bool(self.user_accept(self._plain(model)))
        with self.lock:
            self.tally.rejected += not accepted
            if accepted:
                self.running[id(model)] = model
        return accepted

    def _plain(self, model: ExecutableModelSpace) -> dict:
        return {label: model.sample[label] for label in self.labels}

    def _initialize_engine(self, engine) -> None:
        super()._initialize_engine(engine)
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._trial_ended)

    def _trial_ended(self, event: TrainingEndEvent) -> None:
        with self.lock:
            if self.running.pop(id(event.model), None) is None or id(event.model) in self.tally.duplicate_ids:
                return
            self.tally.evaluated += 1
            self.tally.failed += event.status != ModelStatus.Trained
        if self.on_trial_end is not None:
            self.on_trial_end(self._plain(event.model))

    def budget_available(self) -> bool:
        if len(self.proposed) >= self.space_size:
            # Only rl would go on, proposing repeats until the skip cap.
            self.stop_reason = "strategy_done"
            return False
        if time.monotonic() >= self.deadline:
            self.stop_reason = "time_budget"
            return False
        if self.tally.rejected + self.tally.duplicates >= self.max_skipped:
            self.stop_reason = "too_many_skipped"
            return False
        return self.engine.budget_available()


class CountingDeduplication(Deduplication):
    """NNI's Deduplication in replay mode, counting the repeats it answers, where a repeat is a
    sample with the `identity` of an earlier one (default: the same sample). With the network a
    sample builds as its identity, samples that differ only in labels the network does not use
    are answered with the first one's metric instead of taking a trial each.

    NNI's replay sends the earlier metric even when there is none, which makes NNI raise
    ("Metric None is not a number") on a repeat of a failed trial; here such a repeat only gets
    the earlier status. A repeat of a sample whose trial has not ended (parallel trials) is
    evaluated as a new one.
    """

    def __init__(self, tally: Tally, patience: int, identity: Identity | None = None):
        super().__init__("replay", patience=patience)
        self.tally = tally
        self.identity = identity or _frozen
        self._dedup_helper = _SameIdentity(self.identity)

    def handle_duplicate_model(self, model: ExecutableModelSpace) -> bool:
        mine = self.identity(model.sample)
        earlier = next((m for m in self.engine.list_models() if m.status in _ENDED and self.identity(m.sample) == mine),
                       None)
        if earlier is None:
            return False  # then NNI evaluates it as a new sample
        self.tally.duplicates += 1
        self.tally.duplicate_ids.add(id(model))
        if earlier.metric is not None:
            self.dispatch_model_event(ModelEventType.FinalMetric, metric=earlier.metric, model=model)
        self.dispatch_model_event(ModelEventType.TrainingEnd, status=earlier.status, model=model)
        return True


_ENDED = (ModelStatus.Trained, ModelStatus.Failed)


def _frozen(sample: dict) -> frozenset:
    return frozenset(sample.items())


class _SameIdentity(DeduplicationHelper):
    """NNI's record of seen samples, keyed by their identity."""

    def __init__(self, identity: Identity):
        super().__init__()
        self.identity = identity

    def dedup(self, sample: dict) -> bool:
        return super().dedup(self.identity(sample))
