"""The names of a run folder's files, in one place. Import-light (no numpy, pandas or torch), so the
report's reuse check can list its inputs without loading the harness:

    RUN_DIR/format.json (the folder format's version), config.toml, plan.json (the request and its jobs), splits.json, methods.json (each method's name and colour), data/prepared.npz
    RUN_DIR/jobs/<key>/job.json, status.json, log.txt, checkpoint.pt, previews.npz,
                        rows.parquet + history.parquet (fine-tune), loss_curve.parquet (pre-train),
                        rows.parquet alone (score: a fine-tuned model on an external test set),
                        slurm.json (--executor slurm: the SLURM job it was submitted as)
    RUN_DIR/superseded/<key>/   jobs of imported weights (--pretrained) since changed: kept, never reported
    RUN_DIR/tracking/           tensorboard/<key>/ and mlflow.db (--track)
    RUN_DIR/slurm/              submitit's logs (--executor slurm)
    RUN_DIR/report/             what `angiobench report` writes
"""

from __future__ import annotations

FORMAT, CONFIG, PLAN, SPLITS, LOOKS = "format.json", "config.toml", "plan.json", "splits.json", "methods.json"
PREPARED = ("data", "prepared.npz")
JOBS = "jobs"
SUPERSEDED = "superseded"
JOB, STATUS, LOG, CHECKPOINT, PREVIEWS = "job.json", "status.json", "log.txt", "checkpoint.pt", "previews.npz"
ROWS, HISTORY, LOSS_CURVE = "rows.parquet", "history.parquet", "loss_curve.parquet"
TRACKING = "tracking"  # --track: tensorboard/<key>/ and mlflow.db inside
SLURM_SUBMISSION = "slurm.json"  # the SLURM job id a driver submitted the job as (--executor slurm)
#: What a report reads of each job (never its checkpoint or log).
REPORT_INPUTS = (JOB, STATUS, ROWS, LOSS_CURVE, PREVIEWS)
