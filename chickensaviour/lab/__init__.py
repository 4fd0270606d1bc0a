"""The robustness lab: transfer across architectures, ensembles, defences.

Library functions split the work into :class:`~.jobs.LabJob`\\ s, run them with a runner
(:mod:`chickensaviour.runners`: in-process or Ray) and return result dataclasses;
:mod:`.report` turns those into figures, CSV, JSON and a report page (bytes); the CLI
(``chickensaviour lab ...``) writes them.
"""

from __future__ import annotations

from chickensaviour.lab.defend import DefenceScores, DefendResult, run_defend
from chickensaviour.lab.ensemble_lab import EnsembleResult, run_ensemble
from chickensaviour.lab.jobs import LabJob, run_job
from chickensaviour.lab.transfer import TransferResult, run_transfer, seed_table

__all__ = [
    "DefenceScores",
    "DefendResult",
    "EnsembleResult",
    "LabJob",
    "TransferResult",
    "run_defend",
    "run_ensemble",
    "run_job",
    "run_transfer",
    "seed_table",
]
