"""What a job saves for the report's galleries (`previews.npz`), one typed record per job kind.

The file stays a plain `.npz` (numpy only, readable without the harness); these records name its
arrays once, so the jobs that write them and the galleries that read them cannot drift apart.
"""

from __future__ import annotations

import io
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import numpy as np

from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class PretextPreview:
    """A pre-training job's: a few fixed pre-training images (K×1×S×S) and, for methods that
    reconstruct, the pretext input the method saw and its output (same shape; see Method.preview)."""

    target: np.ndarray
    input: np.ndarray | None = None
    output: np.ndarray | None = None

    @classmethod
    def from_method(cls, target: np.ndarray, method_preview: dict[str, np.ndarray]) -> PretextPreview:
        """From what `Method.preview` returned, refusing names the galleries would silently drop."""
        unknown = sorted(set(method_preview) - {"input", "output"})
        if unknown:
            raise BenchmarkError(f"Method.preview returned {unknown}: only 'input' and 'output' are drawn")
        return cls(target=target, **method_preview)


@dataclass(frozen=True)
class PredictionPreview:
    """A fine-tune job's: a few fixed test images (K×S×S), their masks and the model's predictions."""

    ids: np.ndarray  # K image ids (strings)
    image: np.ndarray
    mask: np.ndarray
    pred: np.ndarray


Preview = PretextPreview | PredictionPreview


def preview_bytes(preview: Preview) -> bytes:
    """The `.npz` bytes of a preview: one array per field that is set."""
    arrays = {f.name: getattr(preview, f.name) for f in fields(preview) if getattr(preview, f.name) is not None}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_preview(path: Path) -> Preview | None:
    """The preview saved at `path`, by the arrays it holds; None when the job saved none."""
    if not path.is_file():
        return None
    with np.load(path) as saved:
        arrays = {name: saved[name] for name in saved.files}
    for kind in (PredictionPreview, PretextPreview):
        names = {f.name for f in fields(kind)}
        required = {f.name for f in fields(kind) if f.default is MISSING}
        if required <= arrays.keys() <= names:
            return kind(**arrays)
    raise BenchmarkError(f"{path}: previews with arrays {sorted(arrays)} are neither a pre-training nor a "
                         "fine-tuning job's")
