"""Pre-trained weights made outside the run (`--pretrained NAME=PATH`): a contender with no
pre-training job, whose fine-tune jobs start from a file.

PATH is a safetensors file of a UNet state dict of this harness's architecture (benchmark.model.unet), or
an `angiobench export` folder (its pretrained.safetensors). Everything that can refuse the weights is
checked when the run is planned, before its folder is made: the file exists and opens, every key it
transfers is one of the run's UNet with the shape that UNet has there. What fine-tuning takes from
it is what the file's metadata says (an export records its method's `transfers`), else what its keys
hold: encoder and decoder when it has decoder keys, the encoder alone when it has none. Keys of the
1×1 head are ignored: the head is initialised afresh as for every method. The file's sha256 is part
of the fine-tune jobs' keys, so changed weights re-run exactly their jobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_tensors

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import TRANSFERRED_PARTS, Transfer, UNet, UNetConfig, load_parts
from benchmark.model.unet_file import PRETRAINED_FILE, TRANSFERS_KEY

#: The UNet's parts whose keys a file may hold; the head's are ignored (never transferred).
DECODER, HEAD = "decoder", "head"
#: What imported weights can transfer (a file that transfers nothing is no pre-training).
IMPORTED_TRANSFERS: tuple[Transfer, ...] = ("encoder", "encoder+decoder")


@dataclass(frozen=True)
class ImportedWeights:
    """Imported pre-trained weights as a fine-tune job records them: the contender's name, the
    safetensors file, its content's sha256 (what the job's key hashes; the path is not), and what
    fine-tuning takes from it."""

    name: str
    file: str
    sha256: str
    transfers: Transfer

    @property
    def option(self) -> str:
        return f"--pretrained {self.name}={self.file}"


def weights_file(name: str, path: Path) -> Path:
    """The safetensors file PATH names: itself, or an export folder's pre-trained UNet."""
    option = f"--pretrained {name}={path}"
    if path.is_dir():
        inner = path / PRETRAINED_FILE
        if not inner.is_file():
            raise BenchmarkError(f"{option}: the folder has no {PRETRAINED_FILE}; give a safetensors file or an "
                                 "`angiobench export` folder of a method that pre-trains")
        return inner
    if not path.is_file():
        raise BenchmarkError(f"{option}: no such file or folder")
    return path


def _header(file: Path, option: str) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Each tensor's shape and the file's metadata, read without loading a tensor."""
    try:
        with safe_open(str(file), "pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
            return shapes, dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as error:
        raise BenchmarkError(f"{option}: {file} is not a readable safetensors file ({error})") from None


def unet_shapes(unet: UNetConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every state-dict entry of the UNet `unet`, in its order (built on the meta device:
    no memory, however wide)."""
    with torch.device("meta"):
        return {key: tuple(value.shape) for key, value in UNet(unet).state_dict().items()}


def _described(unet: UNetConfig) -> str:
    return (f"the run's UNet (unet: base {unet.base}, depth {unet.depth}, {unet.in_channels} input channel(s), "
            f"{unet.classes} classes)")


def _transfers(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str], option: str) -> Transfer:
    """What the metadata says fine-tuning takes, else what the keys hold."""
    stated = metadata.get(TRANSFERS_KEY)
    if stated is not None:
        if stated not in IMPORTED_TRANSFERS:
            raise BenchmarkError(f"{option}: the file's metadata says it transfers {stated!r}; expected one of "
                                 f"{', '.join(IMPORTED_TRANSFERS)}")
        return stated  # type: ignore[return-value]
    return "encoder+decoder" if any(key.startswith(f"{DECODER}.") for key in shapes) else "encoder"


def check_fit(shapes: dict[str, tuple[int, ...]], transfers: Transfer, unet: UNetConfig, option: str) -> None:
    """Refuse a file that does not fit the run's UNet: the first key (in the UNet's order) with another
    shape, else the first key the UNet does not have, else the first key of a part it transfers that
    it lacks; the head's keys are never looked at."""
    expected = {key: shape for key, shape in unet_shapes(unet).items() if not key.startswith(f"{HEAD}.")}
    for key, shape in expected.items():
        if key in shapes and shapes[key] != shape:
            raise BenchmarkError(f"{option}: key {key!r} has shape {shapes[key]} in the file but {shape} in "
                                 f"{_described(unet)}")
    unexpected = [key for key in shapes if key not in expected and not key.startswith(f"{HEAD}.")]
    if unexpected:
        key = unexpected[0]
        inner = next((k for k in expected if key.endswith(f".{k}")), None)
        hint = (f"; it looks like {inner!r} under the prefix {key[:-len(inner)]!r}: save the UNet's own state dict"
                if inner else " (a state dict of benchmark.model.unet.UNet is expected)")
        raise BenchmarkError(f"{option}: unexpected key {key!r}: {_described(unet)} has no such entry{hint}")
    needed = TRANSFERRED_PARTS[transfers]
    missing = [key for key in expected if key not in shapes and key.split(".", 1)[0] in needed]
    if missing:
        raise BenchmarkError(f"{option}: key {missing[0]!r} is missing; {_described(unet)} has it with shape "
                             f"{expected[missing[0]]} (the file transfers {transfers})")


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def resolve_imported_weights(name: str, path: str, unet: UNetConfig) -> ImportedWeights:
    """The checked weights of one `--pretrained NAME=PATH`; any problem is a one-line BenchmarkError."""
    option = f"--pretrained {name}={path}"
    file = weights_file(name, Path(path))
    shapes, metadata = _header(file, option)
    transfers = _transfers(shapes, metadata, option)
    check_fit(shapes, transfers, unet, option)
    return ImportedWeights(name, str(file), sha256_of(file.read_bytes()), transfers)


def resolve_all(pretrained: dict[str, str], unet: UNetConfig) -> tuple[ImportedWeights, ...]:
    """Every imported contender of a run (RunConfig.pretrained), checked against its UNet."""
    return tuple(resolve_imported_weights(name, path, unet) for name, path in pretrained.items())


def read_imported(weights: ImportedWeights) -> dict[str, torch.Tensor]:
    """The tensors of the file, refused if its content is no longer what the job was planned with
    (the job's key hashes that content: other weights would be results under a wrong key)."""
    try:
        content = Path(weights.file).read_bytes()
    except OSError as error:
        raise BenchmarkError(f"{weights.option}: cannot read the file ({error})") from None
    if sha256_of(content) != weights.sha256:
        raise BenchmarkError(f"{weights.option}: the file changed since the run was planned (sha256 "
                             f"{weights.sha256[:12]}…); start the run again to plan its jobs anew")
    return load_tensors(content)


def load_imported(unet: UNet, weights: ImportedWeights) -> None:
    """Copy what the weights transfer into `unet`; its other parts (the head always) keep their init."""
    load_parts(unet, read_imported(weights), weights.transfers)
