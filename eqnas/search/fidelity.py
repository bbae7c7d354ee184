"""Multi-fidelity search: rungs of increasing fidelity (epochs x training images) and successive
halving over them. Pure: functions of a table of scores; training, records and NNI sit outside
(`eqnas.search.promotion` runs it for a search).

The strategy proposes candidates at rung 0 and learns from rung-0 scores only. After its
proposals, each rung sends its best ``floor(n / eta)`` (at least one) of the ``n`` candidates
scored there to the next rung (synchronous successive halving, Jamieson & Talwalkar 2016). Not
ASHA's asynchronous promotion: with the tens of candidates of a CPU search, promoting whoever is
in the top 1/eta of the first few finished trials sends up candidates that a comparison with the
whole rung would not, and the proposals do not wait for promotions either way (the strategy sees
rung 0 only). Promoting after the proposals is also what makes parallel trials
(``--concurrency``) correct without coordination: they run rung 0; the promotions run in the
search's own process.

The candidates that reach the top rung are the finalists; the score a candidate ends the search
with is its score at the highest rung it reached (a mean over seeds where there are several),
and candidates rank by (that rung, that score).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from eqnas.errors import EqnasError

C = TypeVar("C", bound=Hashable)
Score = float | None  # None: the training at that rung failed
DEFAULT_ETA = 3
DEFAULT_RUNG_COUNT = 3  # rungs of the default schedule
PROMOTIONS = ("continue", "retrain")
DEFAULT_FINALIST_SEEDS = 2


@dataclass(frozen=True)
class Rung:
    epochs: int
    images: int | None  # a seeded subset of the training split; None: all of it

    @property
    def label(self) -> str:
        return f"{self.epochs}x{self.images if self.images is not None else 'all'}"

    @property
    def cost(self) -> float:
        """Images seen in training (epochs x images); the whole split counts as infinite."""
        return self.epochs * (self.images if self.images is not None else math.inf)

    def continues(self, lower: "Rung") -> bool:
        """Whether a run at this rung may continue from the final weights of a run at `lower`:
        it needs more epochs and at least the same images (seeded subsets are nested: the first
        N images of one seeded permutation), so the continued run trains only the extra epochs."""
        more_images = self.images is None or (lower.images is not None and self.images >= lower.images)
        return self.epochs > lower.epochs and more_images


def parse_rungs(text: str) -> tuple[Rung, ...]:
    """'1x2000,2x6000,3x18000' (EPOCHSxIMAGES, 'all' for the whole split) -> rungs."""
    rungs = []
    for part in str(text).split(","):
        epochs, sep, images = part.strip().lower().partition("x")
        try:
            rung = Rung(int(epochs), None if images == "all" else int(images))
        except ValueError:
            rung = None
        if not sep or rung is None or rung.epochs < 1 or (rung.images is not None and rung.images < 1):
            raise EqnasError(f"bad rung {part.strip()!r} in rungs {text!r}: use EPOCHSxIMAGES with positive "
                             "integers (or 'all' images), comma-separated, e.g. 1x2000,2x6000,3x18000")
        rungs.append(rung)
    return tuple(rungs)


def default_rungs(epochs: int, images: int | None, eta: int, count: int = DEFAULT_RUNG_COUNT) -> tuple[Rung, ...]:
    """Rung 0 is the proxy (`epochs` x `images`); rung k adds k epochs and trains on eta^k times
    rung 0's samples (epochs x images) spread over them: 1x6000, 2x9000, 3x18000. With the best
    1/eta promoted, every rung then costs the search about the same (Hyperband's allocation);
    the images still grow, so each rung may continue from the one below."""
    return tuple(Rung(epochs + k, None if images is None else round(images * eta**k * epochs / (epochs + k)))
                 for k in range(count))


@dataclass(frozen=True)
class Fidelity:
    """The multi-fidelity schedule of a search (one rung: no promotion, today's single proxy)."""

    rungs: tuple[Rung, ...]
    eta: int = DEFAULT_ETA  # each rung promotes its best 1/eta
    promotion: str = "continue"  # continue from the lower rung's weights where the rungs allow, or retrain
    finalist_seeds: int = DEFAULT_FINALIST_SEEDS  # seeds each finalist is scored with at the top rung

    def __post_init__(self) -> None:
        check_eta(self.eta)
        if not self.rungs:
            raise EqnasError("rungs: give at least one rung, e.g. 1x2000")
        for lower, higher in zip(self.rungs, self.rungs[1:]):
            if not higher.cost > lower.cost:
                raise EqnasError(f"rungs: {higher.label} must train on more images than the rung before it "
                                 f"({lower.label}): epochs x images must grow from rung to rung")
        if self.promotion not in PROMOTIONS:
            raise EqnasError(f"promotion={self.promotion!r}: choose one of {', '.join(PROMOTIONS)}")
        if isinstance(self.finalist_seeds, bool) or not isinstance(self.finalist_seeds, int) or self.finalist_seeds < 1:
            raise EqnasError(f"finalist_seeds={self.finalist_seeds!r}: use a positive integer")

    @classmethod
    def of(cls, proxy, promotion: str = "continue", finalist_seeds: int = DEFAULT_FINALIST_SEEDS) -> "Fidelity":
        """The schedule a space's proxy section (`eqnas.search.space.Proxy`, with the options of
        `eqnas search` applied) asks for: its rungs, or `default_rungs` from its epochs x subset."""
        check_eta(proxy.eta)
        rungs = parse_rungs(proxy.rungs) if proxy.rungs else default_rungs(proxy.epochs, proxy.subset, proxy.eta)
        return cls(rungs, proxy.eta, promotion, finalist_seeds)

    @property
    def label(self) -> str:
        return ",".join(rung.label for rung in self.rungs)

    def continues(self, rung: int) -> bool:
        """Whether a promotion into `rung` continues from the rung below's weights."""
        return self.promotion == "continue" and 0 < rung < len(self.rungs) and \
            self.rungs[rung].continues(self.rungs[rung - 1])

    def path(self, rung: int) -> range:
        """The rungs a candidate trains, with a new seed, to be scored at `rung` the way promotion
        scores it there: from the rung its chain of continuations starts at."""
        start = rung
        while self.continues(start):
            start -= 1
        return range(start, rung + 1)


def check_eta(eta) -> None:
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise EqnasError(f"eta={eta!r}: use an integer >= 2 (each rung promotes its best 1/eta)")


# ---------------------------------------------------------------- successive halving (pure)

def promote(scores: Mapping[C, Score], eta: int) -> tuple[C, ...]:
    """The candidates a rung sends up, best first: the best ``floor(n / eta)``, at least one, of
    the ``n`` that have a score there. A failure (None) is never promoted and takes no place;
    ties keep the mapping's order (earlier candidates first)."""
    scored = [c for c, s in scores.items() if s is not None]
    ranked = sorted(scored, key=lambda c: -scores[c])  # stable: ties keep their order
    return tuple(ranked[:max(1, len(scored) // eta)]) if scored else ()


def rank(table: Mapping[C, Sequence[Score]]) -> tuple[C, ...]:
    """Candidates by the highest rung at which they have a score, then by that score (ties keep
    the table's order); `table[c][k]` is c's score at rung k (None: failed; a shorter sequence:
    never ran there). Candidates with no score anywhere come last."""

    def standing(c: C) -> tuple[int, float]:
        top = max((k for k, s in enumerate(table[c]) if s is not None), default=-1)
        return (top, table[c][top] if top >= 0 else 0.0)

    return tuple(sorted(table, key=lambda c: tuple(-v for v in standing(c))))


@dataclass(frozen=True)
class Halving:
    """What successive halving did: who ran at each rung (in entry order), who each rung promoted
    (best first), every candidate's scores at the rungs it ran, and the final ranking."""

    ran: tuple[tuple, ...]
    promoted: tuple[tuple, ...]  # promoted[k]: from rung k to k + 1
    scores: dict  # candidate -> [score at rung 0, 1, ...] up to the highest rung it ran
    ranking: tuple

    @property
    def finalists(self) -> tuple:
        return self.ran[-1] if len(self.ran) > 1 else ()


def halve(candidates: Sequence[C], score: Callable[[C, int], Score], eta: int, rungs: int,
          rescore: Callable[[C, float], Score] | None = None) -> Halving:
    """Successive halving: every candidate enters rung 0; `score(c, k)` is asked once for each
    candidate at each rung it enters (the search trains there; a table looks it up).

    `rescore(c, first)`, when given, turns a finalist's first top-rung score into its score over
    all its seeds (the finalists' extra seeds). It is asked only when two or more candidates reach
    the top rung: a lone finalist is the winner whatever its mean, so its extra seeds would be
    paid for and change nothing."""
    ran: list[tuple] = []
    promoted: list[tuple] = []
    scores: dict = {c: [] for c in candidates}
    entrants = tuple(candidates)
    for k in range(rungs):
        ran.append(entrants)
        compared = rescore is not None and k == rungs - 1 and k > 0 and len(entrants) > 1
        for c in entrants:
            first = score(c, k)
            scores[c].append(rescore(c, first) if compared and first is not None else first)
        if k + 1 < rungs:
            entrants = promote({c: scores[c][k] for c in entrants}, eta)
            promoted.append(entrants)
    return Halving(tuple(ran), tuple(promoted), scores, rank(scores))


def successive_halving(table: Mapping[C, Sequence[Score]], eta: int = DEFAULT_ETA,
                       rungs: int | None = None) -> Halving:
    """The promotions and final ranking successive halving makes on a table of scores.

    `table[c][k]`: candidate c's score at rung k (higher is better; None: its training failed
    there; a finalist's top-rung score is its mean over seeds, see `mean_score`), in the order the
    candidates were proposed, which breaks ties. Scores successive halving never asks for may be
    missing. `rungs`: how many rungs (default: the longest row).

        >>> h = successive_halving({"a": [0.3, 0.6], "b": [0.5, 0.7], "c": [0.4], "d": [None]}, eta=3)
        >>> h.promoted, h.ranking
        ((('b',),), ('b', 'c', 'a', 'd'))
    """
    count = rungs if rungs is not None else max((len(row) for row in table.values()), default=0)

    def look_up(c: C, k: int) -> Score:
        if k >= len(table[c]):
            raise ValueError(f"candidate {c!r} was promoted to rung {k} but the table has no score for it there")
        return table[c][k]

    return halve(list(table), look_up, eta, count)


def mean_score(seed_scores: Sequence[Score]) -> Score:
    """A candidate's score at a rung from its seeds: the mean of those that did not fail."""
    done = [s for s in seed_scores if s is not None]
    return statistics.fmean(done) if done else None
