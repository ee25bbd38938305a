"""A run, fully described by one dataclass, loadable from TOML and overridable from the command line.

Three profiles set the defaults (benchmark.config.profiles.PROFILE_TABLE, where each is defined once): `tiny`
(a smoke test on a 2-core CPU), `small` (tiny's sizes with the budget the calibration study found to
detect the positive control on ARCADE) and `paper` (the study's sizes). Per-method pre-training
recipes and settings come from each method's own defaults for the profile, then the overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

from benchmark.data.external import parse_external_tests
from benchmark.data.images import check_mask_threshold
from benchmark.data.preprocess import PreprocessConfig
from benchmark.data.readers.registry import check_format
from benchmark.data.splits import STUDY_RATIOS, Ratio, check_ratio
from benchmark.core.dataclass_io import to_plain, update
from benchmark.core.errors import BenchmarkError
from benchmark.core.text import USABLE_NAME, did_you_mean
from benchmark.core.files import atomic_write_text, read_toml
from benchmark.config.profiles import PROFILE_TABLE, PROFILES, ProfileName, ProtocolName
from benchmark.model.unet_config import UNetConfig
from benchmark.config.protocols import protocol_recipe
from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe
from methods import registry

#: The TOML table of the methods' settings (RunConfig.method_settings): `[method.mae]`, say.
SETTINGS_TABLE = "method"


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how the splits are drawn."""

    source: str = "synthetic"  # "synthetic" or a path to a dataset
    format: str = "auto"  # "auto" or a dataset format's name (benchmark.data.readers.registry.format_names)
    #: Binarise mask files with grey values (anti-aliased downloads) at this 8-bit level: vessel =
    #: value ≥ it (1–255). None: such a mask is an error. Part of the data's fingerprint.
    mask_threshold: int | None = None
    synthetic_count: int = 200
    synthetic_size: int = 128
    synthetic_seed: int = 0
    unlabelled: str = ""  # a folder of extra images for pre-training only
    # "dataset": the source's own test split if it has one, else a random one; "random": a seeded
    # random one; "apart": the images "dataset" would test on left out altogether, and a random test
    # split drawn from the rest (calibration: budgets chosen on images the answer is never scored on)
    test_split: Literal["dataset", "random", "apart"] = "dataset"
    test_fraction: float = 0.2
    val_fraction: float = 0.2
    split_seed: int = 0
    #: "per-seed": each seed draws its own labelled and pre-training images (nested across ratios,
    #: shared by every method of a (ratio, seed) cell); "shared": one draw for every seed
    #: (benchmark.data.splits explains why per seed is the default).
    labelled_splits: Literal["per-seed", "shared"] = "per-seed"
    #: Other labelled datasets every fine-tuned model is also scored on, as NAME=PATH (never used to
    #: train or select a model; see benchmark.data.external).
    external_tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunConfig:
    profile: ProfileName = "tiny"
    protocol: ProtocolName = "fair"
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    methods: tuple[str, ...] = ()
    ratios: tuple[Ratio, ...] = tuple(Ratio.parse(r) for r in STUDY_RATIOS)  # written as labels in TOML
    seeds: tuple[int, ...] = (0,)
    finetune: FinetuneRecipe = field(default_factory=FinetuneRecipe)
    pretrain: dict[str, PretrainRecipe] = field(default_factory=dict)
    #: Weights pre-trained outside the run, by contender name: NAME → a safetensors file or an
    #: `angiobench export` folder (benchmark.run.plan.imported_weights); fine-tuned like any method.
    pretrained: dict[str, str] = field(default_factory=dict)
    #: Each method's settings dataclass, by method name; `[method.NAME]` tables in TOML.
    method_settings: dict[str, Any] = field(default_factory=dict)
    #: "finetune": every start fine-tuned whole; "frozen-encoder": the transferred encoder kept fixed and
    #: only the decoder and head trained (a probe of the representation, under the same budget, lr grid
    #: and selection); "both": each cell run both ways, reported side by side.
    evaluation: Literal["finetune", "frozen-encoder", "both"] = "finetune"

    def to_toml(self) -> str:
        plain = to_plain(self)
        if not plain.get("pretrained"):  # a run without imported weights writes the config it always did
            plain.pop("pretrained", None)
        if plain.get("evaluation") == "finetune":  # and so does a run of the default evaluation
            plain.pop("evaluation")
        plain[SETTINGS_TABLE] = plain.pop("method_settings", {})  # the last field: the TOML's order is kept
        return tomli_w.dumps(plain)

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_toml())


def finetune_recipe(profile: ProfileName, protocol: ProtocolName) -> FinetuneRecipe:
    """The fine-tuning every method gets at a profile under a protocol (benchmark.config.profiles.PROFILE_TABLE):
    "study", the study's fixed recipe; "fair", a budget in steps with the lr picked per (method, ratio,
    seed) on the validation part from one grid for every method (benchmark.train.selection)."""
    return FinetuneRecipe(**PROFILE_TABLE[profile].finetune(protocol).recipe_values())


def profile_defaults(profile: ProfileName, protocol: ProtocolName = "fair") -> RunConfig:
    """The defaults of a profile under a protocol, before methods are resolved."""
    if protocol not in ("fair", "study"):
        raise BenchmarkError(f"--protocol {protocol!r} is not one of fair, study")
    if profile not in PROFILE_TABLE:
        raise BenchmarkError(f"--profile {profile!r} is not one of auto, {', '.join(PROFILES)}")
    spec = PROFILE_TABLE[profile]
    # The study resized masks by nearest neighbour; the fair protocol keeps thin vessels connected.
    mask_resize = "nearest" if protocol == "study" else "area"
    return RunConfig(
        profile=profile, protocol=protocol,
        data=DataConfig(synthetic_count=spec.synthetic_count, synthetic_size=spec.synthetic_size),
        preprocess=dataclasses.replace(PreprocessConfig.paper(), size=spec.image_size, mask_resize=mask_resize),
        unet=spec.unet, seeds=spec.seeds,
        ratios=tuple(Ratio.parse(r) for r in (spec.ratios or STUDY_RATIOS)),
        finetune=finetune_recipe(profile, protocol),
    )


def check_pretrained(pretrained: dict[str, str], known: dict[str, type], where: str) -> dict[str, str]:
    """Imported weights by name with absolute paths; a name that cannot name a contender, or that a
    registered method has (their rows would mix), is refused. The files are checked when the run is
    planned (benchmark.run.plan.imported_weights): a finished run's config is still read after they move."""
    checked = {}
    for name, path in pretrained.items():
        entry = f"--pretrained {name}={path}"
        if not USABLE_NAME.match(name):
            raise BenchmarkError(f"{where}: {entry}: {name!r} is not a usable name; use letters, digits, '.', '_' "
                                 "or '-'")
        if name in known:
            raise BenchmarkError(f"{where}: {entry}: {name!r} is the name of a registered method; name the external "
                                 f"weights otherwise (e.g. {name}-external)")
        if not path:
            raise BenchmarkError(f"{where}: {entry}: no path given")
        checked[name] = str(Path(path).expanduser().resolve())
    return checked


def build_config(table: dict[str, Any], where: str = "config") -> RunConfig:
    """A resolved RunConfig from a (possibly partial) table: profile defaults, then the table's values.

    Every selected method gets its pre-training recipe and settings: its defaults for the profile
    with the table's `[pretrain.NAME]` and `[method.NAME]` values on top.
    """
    table = dict(table)
    profile = table.pop("profile", "tiny")
    base = profile_defaults(profile, table.get("protocol", "fair"))
    pretrain_table = table.pop("pretrain", {})
    method_table = table.pop(SETTINGS_TABLE, {})
    if "method_settings" in table:
        raise BenchmarkError(f"{where}: unknown key 'method_settings' (the methods' settings are [method.NAME] tables)")
    config = update(base, table, where)
    known = registry()
    methods = config.methods or tuple(known)
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise BenchmarkError(f"unknown method {unknown[0]!r}{did_you_mean(unknown[0], known)}; known methods: "
                             f"{', '.join(known)}")
    check_format(config.data.format, "data.format", where)
    check_mask_threshold(config.data.mask_threshold, f"{where}: data.mask_threshold")
    if not config.seeds:
        raise BenchmarkError(f"{where}: no seeds given")
    if len(set(config.seeds)) != len(config.seeds):
        raise BenchmarkError(f"{where}: seeds repeat: {list(config.seeds)}")
    if not config.ratios:
        raise BenchmarkError(f"{where}: no ratios given")
    for ratio in config.ratios:
        check_ratio(ratio)
    externals = parse_external_tests(config.data.external_tests, config.data.source, f"{where}: data.external_tests",
                                     must_exist=False)  # checked when the run reads them
    config = dataclasses.replace(config, data=dataclasses.replace(
        config.data, external_tests=tuple(t.entry for t in externals)))
    for name, section in (("pretrain", pretrain_table), ("method", method_table)):
        stray = [m for m in section if m not in known]
        if stray:
            raise BenchmarkError(f"{where}: [{name}.{stray[0]}] names an unknown method; known: {', '.join(known)}")
    pretrain, settings = {}, {}
    for name in methods:
        cls = known[name]
        if cls.pretrains:
            pretrain[name] = update(
                protocol_recipe(cls, config.profile, config.protocol), pretrain_table.get(name, {}),
                f"{where}.pretrain.{name}",
            )
        default = cls.default_config(config.profile)
        if default is not None:
            settings[name] = update(default, method_table.get(name, {}), f"{where}.method.{name}")
        elif method_table.get(name):
            raise BenchmarkError(f"{where}: method {name!r} has no settings to set")
    return dataclasses.replace(
        config, methods=tuple(methods),
        pretrain=pretrain, method_settings=settings, pretrained=check_pretrained(config.pretrained, known, where),
    )


def load_config(path: Path) -> RunConfig:
    return build_config(read_toml(path), where=str(path))
