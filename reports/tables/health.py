"""Whether each method was tested at all: did its pretext task learn (its loss against the chance
level of a network that learned nothing), and how far fine-tuning moved the encoder it transferred.
Read from the jobs' status.json (benchmark.train.health); a contender whose pretext did not learn is
named in the answer, since a tie or a loss then says nothing of the method at this budget."""

from __future__ import annotations

import pandas as pd

from reports.labels import is_control, method_label, order_methods, order_ratios
from reports.tables.table_format import Table
from reports.tables.study import MISSING


def _done(jobs: pd.DataFrame, kind: str) -> pd.DataFrame:
    if jobs.empty or "pretext_learned" not in jobs.columns:
        return jobs.iloc[0:0]
    return jobs[(jobs["state"] == "done") & (jobs["kind"] == kind)]


def _learned(flags: pd.Series) -> tuple[int, int]:
    """(jobs whose pretext learned, jobs that say) among pre-training jobs."""
    said = flags.dropna().astype(bool)
    return int(said.sum()), len(said)


def _mean_text(values: pd.Series, digits: int = 3) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return f"{values.mean():.{digits}f}" if len(values) else MISSING


def not_learned(jobs: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(method, pre-training jobs whose pretext did not learn, jobs that say) for each contender with
    at least one such job, in the report's order; controls are left out."""
    pre = _done(jobs, "pretrain")
    found = []
    for method in order_methods(pre["method"]):
        if is_control(method):
            continue
        learned, said = _learned(pre.loc[pre["method"] == method, "pretext_learned"])
        if said and learned < said:
            found.append((method, said - learned, said))
    return found


def pretext_notes(jobs: pd.DataFrame) -> list[str]:
    """One sentence per contender whose pretext did not learn in some of its pre-training jobs."""
    return [f"Not a test of {method_label(m)} at this budget: its pretext loss did not fall 10 % below the "
            f"loss of a network that learned nothing in {failed} of its {said} pre-training jobs (see the "
            f"health table), so a tie or a loss says nothing of the method." for m, failed, said in not_learned(jobs)]


def health_table(jobs: pd.DataFrame) -> Table | None:
    """One row per (method, ratio) with finished pre-training or transferred fine-tuning jobs: the
    pretext loss at the start and end against its chance level, how many pretexts learned, and the
    encoder's relative change in fine-tuning; None when no job recorded any of it."""
    pre, fine = _done(jobs, "pretrain"), _done(jobs, "finetune")
    fine = fine[fine["encoder_shift"].notna()] if not fine.empty else fine
    if pre.empty and fine.empty:
        return None
    cells, records = [], []
    methods = order_methods(pd.concat([pre["method"], fine["method"]]))
    ratios = order_ratios(pd.concat([pre["ratio"], fine["ratio"]]))
    for method in methods:
        for ratio in ratios:
            p = pre[(pre["method"] == method) & (pre["ratio"] == ratio)]
            f = fine[(fine["method"] == method) & (fine["ratio"] == ratio)]
            if p.empty and f.empty:
                continue
            learned, said = _learned(p["pretext_learned"]) if not p.empty else (0, 0)
            cells.append((method_label(method), ratio, _mean_text(p["loss_start"]), _mean_text(p["loss_end"]),
                          _mean_text(p["chance_loss"]), f"{learned}/{said}" if said else MISSING,
                          _mean_text(f["encoder_shift"])))
            records.append({"method": method, "ratio": ratio, "pretrain_jobs": len(p),
                            "loss_start_mean": pd.to_numeric(p["loss_start"], errors="coerce").mean(),
                            "loss_end_mean": pd.to_numeric(p["loss_end"], errors="coerce").mean(),
                            "chance_loss_mean": pd.to_numeric(p["chance_loss"], errors="coerce").mean(),
                            "pretext_learned": learned, "pretext_said": said, "finetune_jobs": len(f),
                            "encoder_shift_mean": pd.to_numeric(f["encoder_shift"], errors="coerce").mean()})
    notes = (
        "Means over seeds. PT loss start/end: the pretext loss over the first and last logged steps; chance: what "
        "a network that learned nothing scores on the same batches (MoCo: log(K+1) for K queued negatives; a "
        "masked method: the masked pixels' mean; Models Genesis: the corrupted input returned unchanged; CM-UNet "
        "adds λ·log(batch) for its InfoNCE; the positive control: the vessel share predicted everywhere). "
        "Learned: pre-training jobs whose final loss is at least 10 % below chance. Encoder shift: "
        "‖selected − transferred‖ / ‖transferred‖ over the encoder's parameters after fine-tuning (0: kept "
        f"as transferred; {MISSING}: nothing transferred).",
    )
    columns = ("Method", "Ratio", "PT loss start", "PT loss end", "Chance", "Learned", "FT encoder shift")
    return Table("health", "Pretext and transfer health: was each method tested?", columns, tuple(cells),
                 frozenset(), notes, pd.DataFrame(records))
