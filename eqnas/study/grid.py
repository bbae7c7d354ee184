"""The study grid as data: the cells (dataset, budget, arm), each with one architecture, and
the runs (a cell under one privacy setting and one seed), in the order they train."""
from __future__ import annotations

from dataclasses import dataclass

from eqnas.study.config import Arm, StudyConfig
from eqnas.study.records import run_key


@dataclass(frozen=True)
class Cell:
    dataset: str
    budget: int
    arm: Arm


@dataclass(frozen=True)
class Run:
    cell: Cell
    epsilon: float | None
    seed: int

    @property
    def key(self) -> str:
        return run_key(self.cell.dataset, self.cell.budget, self.cell.arm.name, self.epsilon, self.seed)


def cells(config: StudyConfig) -> list[Cell]:
    """Dataset-major, then arm, then budget (each arm at its own budgets)."""
    return [Cell(dataset, budget, arm) for dataset in config.datasets for arm in config.arms
            for budget in config.arm_budgets(arm)]


def runs(config: StudyConfig, cell: Cell) -> list[Run]:
    return [Run(cell, epsilon, seed) for epsilon in config.epsilons for seed in config.seeds]
