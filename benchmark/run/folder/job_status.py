"""What a job says about itself in its status.json: its state, and once done, where it ran and what
it did (one outcome dataclass per job kind), written and read through benchmark.core.dataclass_io.

The file is flat JSON (the outcome's fields beside the state's); a key that is neither a status
field nor one of the job kind's outcome fields is refused, naming the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Union

from benchmark.core.dataclass_io import build, to_plain
from benchmark.core.errors import BenchmarkError

JobState = Literal["pending", "running", "done", "failed", "skipped"]


@dataclass(frozen=True)
class Budget:
    """What a job was given, as the budget table compares it (None: the kind has no such figure)."""

    steps: int | None = None  # optimiser steps
    images_seen: int | None = None  # images passed through a training step
    lr: float | None = None  # the pre-training lr, or the fine-tuning lr selected
    flops: float | None = None  # training FLOPs


@dataclass(frozen=True)
class Health:
    """Whether a job tested its method (benchmark.train.health; None: the kind has no such figure):
    a pre-training's loss at the start and end beside its chance level and the verdict, a fine-tune's
    relative L2 change of the transferred encoder."""

    loss_start: float | None = None
    loss_end: float | None = None
    chance_loss: float | None = None
    pretext_learned: bool | None = None
    encoder_shift: float | None = None


@dataclass(frozen=True)
class PretrainOutcome:
    """A pre-training job's budget and result: what the budget table and the plan compare."""

    params_pretrain: int
    final_loss: float | None  # None when no step ran
    steps: int
    images_seen: int
    lr: float
    flops: float | None = None  # training FLOPs (None: not counted)
    loss_start: float | None = None  # the first logged loss (mean of the first `log_every` steps)
    chance_loss: float | None = None  # what learning nothing scores, at the end (None: not said)
    pretext_learned: bool | None = None  # final_loss at least 10 % below chance_loss

    @property
    def params(self) -> int:
        return self.params_pretrain

    def budget(self) -> Budget:
        return Budget(self.steps, self.images_seen, self.lr, self.flops)

    def health(self) -> Health:
        return Health(self.loss_start, self.final_loss, self.chance_loss, self.pretext_learned)


@dataclass(frozen=True)
class FinetuneOutcome:
    """A fine-tune job's selected model: where validation peaked, and the lr and steps it was given."""

    params_finetune: int
    best_epoch: int
    best_val_dice: float
    lr: float
    steps: int
    batch_size: int
    # ‖selected − transferred‖ / ‖transferred‖ over the encoder's parameters (None: nothing transferred)
    encoder_shift: float | None = None

    @property
    def params(self) -> int:
        return self.params_finetune

    def budget(self) -> Budget:
        return Budget(steps=self.steps, lr=self.lr)

    def health(self) -> Health:
        return Health(encoder_shift=self.encoder_shift)


@dataclass(frozen=True)
class ScoreOutcome:
    """A score job trains nothing: only the size of the model it scored."""

    params_finetune: int

    @property
    def params(self) -> int:
        return self.params_finetune

    def budget(self) -> Budget:
        return Budget()

    def health(self) -> Health:
        return Health()


Outcome = Union[PretrainOutcome, FinetuneOutcome, ScoreOutcome]
OUTCOMES: dict[str, type] = {"pretrain": PretrainOutcome, "finetune": FinetuneOutcome, "score": ScoreOutcome}


@dataclass(frozen=True)
class Provenance:
    """How a finished job's numbers were computed (its device and wall time are the status's own)."""

    git_commit: str = ""
    versions: str = ""
    precision: str = ""
    compiled: bool = False


@dataclass(frozen=True)
class JobStatus:
    """A job's state; `started` and `pid` while running, `error` when failed or skipped, `device` and
    `wall_time_s` once it ran, `provenance` and `outcome` when done."""

    state: JobState = "pending"
    time: float | None = None  # when this status was written
    started: float | None = None
    pid: int | None = None
    device: str | None = None
    error: str | None = None
    wall_time_s: float | None = None
    provenance: Provenance | None = None
    outcome: Outcome | None = None

    def to_json(self) -> dict[str, Any]:
        """The flat table status.json holds (fields left unset are left out)."""
        table = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in ("provenance", "outcome") and getattr(self, f.name) is not None}
        for part in (self.provenance, self.outcome):
            if part is not None:
                table.update(to_plain(part, keep_none=True))
        return table

    @classmethod
    def from_json(cls, table: dict[str, Any], kind: str, where: str) -> JobStatus:
        """The status a `to_json` table describes, its outcome that of a `kind` job."""
        if not isinstance(table, dict):
            raise BenchmarkError(f"{where}: expected a JSON object, got {table!r}")
        own = {f.name for f in dataclasses.fields(cls)} - {"provenance", "outcome"}
        made = {f.name for f in dataclasses.fields(Provenance)}
        rest = {k: v for k, v in table.items() if k not in own and k not in made}
        provenance = build(Provenance, {k: v for k, v in table.items() if k in made}, where) \
            if made & set(table) else None
        outcome = None
        if rest:
            if kind not in OUTCOMES:
                raise BenchmarkError(f"{where}: job kind {kind!r} is not one of {', '.join(OUTCOMES)}")
            outcome = build(OUTCOMES[kind], rest, where)
        status = build(cls, {k: v for k, v in table.items() if k in own}, where)
        return dataclasses.replace(status, provenance=provenance, outcome=outcome)
