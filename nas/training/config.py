"""Training configuration: one dataclass tree, filled from YAML and CLI flags by :func:`nas.core.config.parse_config`.

A recipe is data: a list of :class:`PhaseConfig`. The sandwich recipe is one phase over the whole space; once-for-all
progressive shrinking is a list of phases that widen the allowed kernel sizes, depths and expand ratios in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from search_spaces import ConfigError
from search_spaces.checks import require
from search_spaces.errors import short_repr

__all__ = [
    "MAX_SEED",
    "DataConfig",
    "OptimConfig",
    "PhaseConfig",
    "TrainConfig",
    "progressive_shrinking_phases",
    "quickstart_config",
]

MAX_SEED = 2**32 - 1


@dataclass
class DataConfig:
    """Which data set to train on and how it is split."""

    name: str = "digits"
    root: str | None = None
    resolution: int = 32
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    augment_shift: int = 2  # random translation in pixels at training time; 0 turns it off
    limit_train: int = 0  # use only the first N training images (0: all); for smoke tests and quick trials
    classes: list[str] = field(default_factory=list)  # keep only these class names, relabelled in order (empty: all)

    def __post_init__(self) -> None:
        require(1 <= self.resolution <= 4096, "data.resolution", self.resolution, "in 1..4096")
        require(0 <= self.seed <= MAX_SEED, "data.seed", self.seed, f"in 0..{MAX_SEED}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            require(0 <= value < 1, f"data.{name}", value, "in [0, 1)")
        total = self.val_fraction + self.test_fraction
        require(total < 1, "data.test_fraction", self.test_fraction, f"< {1 - self.val_fraction:g} (1 - val_fraction)")
        require(0 <= self.augment_shift <= 64, "data.augment_shift", self.augment_shift, "in 0..64 pixels")
        require(self.limit_train >= 0, "data.limit_train", self.limit_train, ">= 0 (0: all images)")


@dataclass
class OptimConfig:
    """Optimizer and schedule (torch.optim and timm's cosine scheduler)."""

    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    min_lr: float = 1e-4
    label_smoothing: float = 0.1
    grad_clip: float = 5.0

    def __post_init__(self) -> None:
        require(self.lr > 0, "optim.lr", self.lr, "> 0")
        require(0 <= self.label_smoothing < 1, "optim.label_smoothing", self.label_smoothing, "in [0, 1)")
        require(0 <= self.momentum < 1, "optim.momentum", self.momentum, "in [0, 1)")
        for name in ("weight_decay", "warmup_epochs", "min_lr", "grad_clip"):
            value = getattr(self, name)
            require(value >= 0, f"optim.{name}", value, ">= 0")


@dataclass
class PhaseConfig:
    """One training phase: which choices are elastic, how many subnets per step, who teaches.

    Empty choice lists mean "all of the space's choices". ``teacher`` is ``inplace`` (the largest subnet's soft
    labels in the same step, BigNAS), ``frozen_full`` (a frozen copy of the full network taken when the phase
    starts, once-for-all) or ``none``.
    """

    name: str = "sandwich"
    epochs: int = 20
    lr_scale: float = 1.0
    kernel_sizes: list[int] = field(default_factory=list)
    expand_ratios: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    resolutions: list[int] = field(default_factory=list)
    sandwich: bool = True  # train the largest and the smallest allowed subnet every step
    random_subnets: int = 2
    teacher: Literal["inplace", "frozen_full", "none"] = "inplace"
    sort_channels: bool = False  # reorder channels by importance when the phase starts

    def __post_init__(self) -> None:
        where = f"phase {short_repr(self.name)}: "
        require(1 <= self.epochs <= 100_000, where + "epochs", self.epochs, "in 1..100000")
        require(0 <= self.random_subnets <= 64, where + "random_subnets", self.random_subnets, "in 0..64")
        require(self.lr_scale > 0, where + "lr_scale", self.lr_scale, "> 0")


@dataclass
class TrainConfig:
    """Everything ``nas train`` needs; unknown keys are errors."""

    supernet: str = "ofa_mbv3_small"
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig()])
    sampler: Literal["uniform", "macs_prior"] = "uniform"
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    channels_last: bool = True
    bf16: bool = True  # autocast to bfloat16 on GPU (ignored on CPU)
    deterministic: bool = False
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default
    checkpoint_every: int = 200  # steps between checkpoints (phase ends always checkpoint)
    calibration_images: int = 512
    kd_temperature: float = 1.0
    student_label_weight: float = 0.5  # students' loss = (1 - w) * distillation + w * label cross-entropy
    init_from: str | None = None  # start from this file's weights (all but the classifier): a supernet file or,
    init_net: str | None = None  # with init_net (a published name), a once-for-all checkpoint
    num_classes: int = 0  # the classifier's outputs; 0 takes the data set's, any other value must equal it

    def __post_init__(self) -> None:
        require(1 <= self.batch_size <= 65536, "batch_size", self.batch_size, "in 1..65536")
        if not self.phases:
            raise ConfigError("phases must list at least one phase", field="phases")
        require(0 <= self.seed <= MAX_SEED, "seed", self.seed, f"in 0..{MAX_SEED}")
        require(0 <= self.threads <= 1024, "threads", self.threads, "in 0..1024 (0: torch's default)")
        require(self.checkpoint_every >= 1, "checkpoint_every", self.checkpoint_every, ">= 1")
        require(self.calibration_images >= 1, "calibration_images", self.calibration_images, ">= 1")
        require(self.kd_temperature > 0, "kd_temperature", self.kd_temperature, "> 0")
        require(0 <= self.student_label_weight <= 1, "student_label_weight", self.student_label_weight, "in [0, 1]")
        require(self.num_classes >= 0, "num_classes", self.num_classes, ">= 0 (0: the data set's)")
        if self.init_net is not None and self.init_from is None:
            raise ConfigError(
                f"init_net={self.init_net!r} names the published net of an init_from file, but init_from is not set",
                field="init_net",
                value=self.init_net,
            )

    @property
    def total_epochs(self) -> int:
        return sum(phase.epochs for phase in self.phases)

    def epochs_before(self, phase_index: int) -> int:
        """Epochs of the phases before ``phase_index``: the run's epoch count when that phase starts."""
        return sum(phase.epochs for phase in self.phases[:phase_index])


def progressive_shrinking_phases(epochs_per_phase: int = 5) -> list[PhaseConfig]:
    """Once-for-all's schedule: full network, then elastic kernel, depth and expand ratio, each distilled from
    a frozen copy of the full network."""
    e = epochs_per_phase
    return [
        PhaseConfig("full", e, 1.0, [7], [6], [4], teacher="none", sandwich=False, random_subnets=1),
        PhaseConfig("kernel", e, 0.5, [3, 5, 7], [6], [4], teacher="frozen_full", sandwich=False),
        PhaseConfig("depth", e, 0.3, [3, 5, 7], [6], [3, 4], teacher="frozen_full", sandwich=False),
        PhaseConfig("depth_2", e, 0.3, [3, 5, 7], [6], [2, 3, 4], teacher="frozen_full", sandwich=False),
        PhaseConfig(
            "expand",
            e,
            0.3,
            [3, 5, 7],
            [4, 6],
            [2, 3, 4],
            teacher="frozen_full",
            sandwich=False,
            sort_channels=True,
        ),
        PhaseConfig(
            "expand_2",
            e,
            0.3,
            [3, 5, 7],
            [3, 4, 6],
            [2, 3, 4],
            teacher="frozen_full",
            sandwich=False,
            sort_channels=True,
        ),
    ]


def quickstart_config(epochs: int = 15) -> TrainConfig:
    """The embedded default: ofa_mbv3_small on digits, sandwich rule with in-place distillation, one random
    subnet per step.

    The defaults it relies on were tuned on this project's 2-core CPU for the quickstart targets within
    10 minutes: batch 32 (more updates per epoch beat more subnets per step), weight decay 5e-4 and students
    learning half from the labels (1,257 training images overfit easily).
    """
    return TrainConfig(phases=[PhaseConfig(epochs=epochs, random_subnets=1)])
