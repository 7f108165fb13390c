"""The supernet trainer: one loop for every recipe (a list of phases), resumable step for step.

Each step trains several subnets on one batch and takes one optimizer step: with the sandwich rule the largest
allowed subnet learns from the labels and the smallest plus ``random_subnets`` sampled ones learn from its soft
labels (in-place distillation); in once-for-all phases the students learn from a frozen copy of the full network.
A checkpoint holds everything needed to continue exactly: weights, optimizer, scheduler, step, phase and every
random state; data order and augmentation are derived from the seed and the step, so a resumed run repeats the
uninterrupted one. With ``init_from`` a run fine-tunes: every weight but the classifier's starts from that file
(:mod:`nas.training.transfer`), once, when the run starts; a resumed run takes them from its checkpoint.

The trainer holds the loop and its state; the checkpoint format lives in :mod:`nas.training.checkpoints`, the
reports (``metrics.csv``, TensorBoard, progress bar) in :mod:`nas.training.run_log`, the augmentation in
:mod:`nas.training.augmentation` and the subnet samplers in :mod:`nas.training.sampling`.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from nas.core.config import config_to_dict, load_yaml, parse_config
from nas.core.files import atomic_write_text
from nas.core.runs import create_run_dir, write_manifest
from nas.data import DataSplits, TensorImageDataset, load_dataset
from nas.supernet.base import Supernet
from nas.supernet.checkpoint import supernet_from_payload
from nas.supernet.registry import create_supernet
from nas.training.augmentation import random_shift
from nas.training.checkpoints import (
    checked_position,
    checkpoint_path,
    damage_reported,
    read_checkpoint,
    restore_rng_state,
    write_checkpoint,
)
from nas.training.config import PhaseConfig, TrainConfig
from nas.training.distributed import DistributedContext, init_distributed
from nas.training.evaluation import file_digest, resize
from nas.training.losses import class_scores, classification_loss
from nas.training.run_log import EpochTotals, RunLog
from nas.training.sampling import PhaseChoices, SubnetSampler, create_subnet_sampler
from nas.training.transfer import load_initial_supernet, transfer_weights
from search_spaces import Arch, CheckpointError, ConfigError, NasError
from search_spaces.parsing import arch_from_json

__all__ = ["TrainSummary", "Trainer", "TrainingDivergedError", "select_device"]


class TrainingDivergedError(NasError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainSummary:
    """Where a finished run left its files and how long it took."""

    run_dir: Path
    supernet_path: Path
    steps: int
    seconds: float
    final_loss: float


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a torch device (auto, cpu, cuda, cuda:N)", field="device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here", field="device", value=name)
    return device


class Trainer:
    """Trains a supernet as its :class:`TrainConfig` says, writing everything under ``run_dir``."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        progress: bool = True,
        log: TextIO = sys.stderr,
        init_weights: bool = True,
    ):
        """Load the data and build the supernet; with ``config.init_from`` (and ``init_weights``, which a resume
        from a checkpoint turns off) take every weight but the classifier's from that file."""
        self.config = config
        self.run_dir = run_dir
        self.device = select_device(config.device)
        self.dist: DistributedContext = init_distributed(self.device.type)
        if self.dist.active and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(config.seed)
        self.data: DataSplits = load_dataset(
            config.data.name,
            config.data.root,
            resolution=config.data.resolution,
            seed=config.data.seed,
            val_fraction=config.data.val_fraction,
            test_fraction=config.data.test_fraction,
            classes=config.data.classes or None,
        )
        if config.num_classes and config.num_classes != self.data.num_classes:
            raise ConfigError(
                f"num_classes={config.num_classes} but data set {config.data.name!r} has {self.data.num_classes} "
                f"classes ({', '.join(self.data.class_names)})",
                field="num_classes",
                value=config.num_classes,
                allowed=self.data.num_classes,
            )
        if config.data.limit_train > 0:
            self.data = _limit_train(self.data, config.data.limit_train)
        global_batch = config.batch_size * self.dist.world_size
        if len(self.data.train) < global_batch:
            raise ConfigError(
                f"batch_size={config.batch_size} x {self.dist.world_size} processes is larger than the training "
                f"split ({len(self.data.train)} images)",
                field="batch_size",
                value=config.batch_size,
            )
        self.supernet = create_supernet(config.supernet, num_classes=self.data.num_classes)
        self.initialized_from: dict[str, Any] | None = None
        if config.init_from is not None and init_weights:
            self.initialized_from = _initial_weights(config.init_from, config.init_net, self.supernet)
        self.supernet = self.supernet.to(self.device)
        if config.channels_last:
            self.supernet = self.supernet.to(memory_format=torch.channels_last)
        self.rng = random.Random(config.seed)
        self.optimizer = self._make_optimizer()
        self.scheduler: Any = None
        self.teacher: nn.Module | None = None
        self.phase_index = 0
        self.epoch_in_phase = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.steps_per_epoch = len(self.data.train) // global_batch
        self.run_log = RunLog(run_dir, main=self.dist.is_main, progress=progress, stream=log)
        self._epoch_totals = EpochTotals()
        self._resumed = False
        self._teacher_arch: Arch = self.supernet.space.largest()

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def start(cls, config: TrainConfig, name: str, root: str | Path = "runs", **options: Any) -> Trainer:
        """A new run folder (refused if it exists) with ``config.yaml`` and ``manifest.json``.

        Nothing is written until the data set and model are built, so bad input leaves no folder behind.
        Under torchrun, rank 0 creates the folder and the other ranks wait for it.
        """
        context = init_distributed(select_device(config.device).type)
        run_dir = create_run_dir(name, root, create=False) if context.is_main else Path(root) / name
        trainer = cls(config, run_dir, **options)  # loads data and builds the model: bad input fails here
        if context.is_main:
            create_run_dir(name, root)
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False))
            extra = {"init_from": trainer.initialized_from} if trainer.initialized_from else {}
            write_manifest(run_dir, config_to_dict(config), kind="train", world_size=context.world_size, **extra)
        context.barrier()
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, **options: Any) -> Trainer:
        """Continue the run in ``run_dir`` from its last checkpoint, with the config it was started with.

        ``metrics.csv`` is cut back to the epochs the checkpoint had finished (rows appended after it, or torn by
        a kill, are written again by the resumed run), so no epoch is listed twice."""
        run_dir = Path(run_dir)
        config_path = run_dir / "config.yaml"
        if not config_path.is_file():
            raise CheckpointError(f"{run_dir} is not a training run (no config.yaml)")
        config = parse_config(TrainConfig, load_yaml(config_path))
        checkpoint = checkpoint_path(run_dir)
        trainer = cls(config, run_dir, init_weights=not checkpoint.is_file(), **options)
        if checkpoint.is_file():
            trainer._load_checkpoint(checkpoint)
        trainer.run_log.trim_metrics(trainer._epochs_done())
        return trainer

    def _make_optimizer(self) -> torch.optim.Optimizer:
        optim = self.config.optim
        decay, no_decay = [], []
        for name, parameter in self.supernet.named_parameters():
            (no_decay if parameter.ndim <= 1 or "transform_" in name else decay).append(parameter)
        groups = [
            {"params": decay, "weight_decay": optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if optim.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, nesterov=True, foreach=True)
        return torch.optim.AdamW(groups, lr=optim.lr, foreach=True)

    def _make_scheduler(self, phase: PhaseConfig) -> Any:
        from timm.scheduler import CosineLRScheduler

        base_lr = self.config.optim.lr * phase.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = base_lr
            group["initial_lr"] = base_lr
        steps = phase.epochs * self.steps_per_epoch
        warmup = int(self.config.optim.warmup_epochs * self.steps_per_epoch) if self.phase_index == 0 else 0
        return CosineLRScheduler(
            self.optimizer,
            t_initial=steps,
            lr_min=self.config.optim.min_lr,
            warmup_t=min(warmup, max(steps - 1, 0)),
            warmup_lr_init=base_lr * 0.1,
            warmup_prefix=False,
            t_in_epochs=False,
        )

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/last.pt`` atomically (rank 0 only under torchrun)."""
        path = checkpoint_path(self.run_dir)
        if not self.dist.is_main:
            return path
        return write_checkpoint(
            path,
            self.config,
            supernet=self.supernet,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            teacher=self.teacher,
            teacher_arch=self._teacher_arch,
            position={
                "phase_index": self.phase_index,
                "epoch_in_phase": self.epoch_in_phase,
                "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step,
            },
            epoch_totals=self._epoch_totals.as_dict(),
            rng=self.rng,
        )

    def _load_checkpoint(self, path: Path) -> None:
        payload = read_checkpoint(path, self.config, self.run_dir / "config.yaml")
        with damage_reported(path):
            self._restore(payload, path)
        self._resumed = True

    def _restore(self, payload: dict[str, Any], path: Path) -> None:
        """Weights, position, optimizer, scheduler, teacher and random states from a checked checkpoint."""
        position = checked_position(payload["position"], path, self.config, self.steps_per_epoch)
        restored = supernet_from_payload(payload["supernet_payload"], str(path))
        if restored.num_classes != self.supernet.num_classes:
            raise CheckpointError(
                f"{path} has {restored.num_classes} classes but the data set has {self.supernet.num_classes}"
            )
        self.supernet.load_state_dict(restored.state_dict())
        self.phase_index = position["phase_index"]
        self.epoch_in_phase = position["epoch_in_phase"]
        self.step_in_epoch = position["step_in_epoch"]
        self.global_step = position["global_step"]
        self._epoch_totals = EpochTotals(**payload.get("epoch_totals", {}))
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["scheduler"] is not None:  # None at a phase boundary: the next phase starts afresh
            self.scheduler = self._make_scheduler(self.config.phases[self.phase_index])
            self.scheduler.load_state_dict(payload["scheduler"])
            self.scheduler.step_update(num_updates=self.global_step - self._phase_start_step())
        if payload["teacher"] is not None:
            self._teacher_arch = arch_from_json(payload["teacher_arch"])
            self.teacher = self.supernet.extract(self._teacher_arch).eval().requires_grad_(False)
            self.teacher.load_state_dict(payload["teacher"])
        restore_rng_state(self.rng, payload["rng"])

    # ------------------------------------------------------------------ training
    def fit(self) -> TrainSummary:
        """Run every remaining phase to its end; returns where the trained supernet was written."""
        started = time.perf_counter()
        total_steps = self.config.total_epochs * self.steps_per_epoch
        self.run_log.open_progress(total_steps, initial=self.global_step)
        last_loss = float("nan")
        try:
            while self.phase_index < len(self.config.phases):
                phase = self.config.phases[self.phase_index]
                choices = PhaseChoices(
                    self.supernet.space,
                    {
                        "kernel_sizes": phase.kernel_sizes,
                        "expand_ratios": phase.expand_ratios,
                        "depths": phase.depths,
                        "resolutions": phase.resolutions,
                    },
                )
                if not self._resumed or self.scheduler is None:
                    self._begin_phase(phase, choices)
                self._resumed = False
                sampler = create_subnet_sampler(self.config.sampler, choices, self.supernet.macs)
                while self.epoch_in_phase < phase.epochs:
                    last_loss = self._run_epoch(phase, choices, sampler)
                    self.epoch_in_phase += 1
                    self.step_in_epoch = 0
                self.phase_index += 1
                self.epoch_in_phase = 0
                self.scheduler = None
                self.teacher = None
                self.save_checkpoint()
        finally:
            self.run_log.close()
        self.dist.check_in_sync(self.supernet, self.device)
        supernet_path = self.run_dir / "supernet.pt"
        if self.dist.is_main:
            self.supernet.save(supernet_path)
        self.dist.barrier()
        return TrainSummary(self.run_dir, supernet_path, self.global_step, time.perf_counter() - started, last_loss)

    def _begin_phase(self, phase: PhaseConfig, choices: PhaseChoices) -> None:
        if phase.sort_channels:
            self.supernet.sort_channels()
            self.optimizer = self._make_optimizer()  # momentum entries no longer match the moved channels
        self.scheduler = self._make_scheduler(phase)
        self.teacher = None
        if phase.teacher == "frozen_full":
            self._teacher_arch = self.supernet.space.largest()
            self.teacher = self.supernet.extract(self._teacher_arch).eval().requires_grad_(False)
        self.run_log.message(
            f"phase {self.phase_index + 1}/{len(self.config.phases)} {phase.name!r}: {phase.epochs} epochs"
        )

    def _epoch_order(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + self._epochs_done())
        return torch.randperm(len(self.data.train), generator=generator)

    def _batch(self, order: Tensor, step: int) -> tuple[Tensor, Tensor]:
        size = self.config.batch_size * self.dist.world_size
        index = order[step * size : (step + 1) * size][self.dist.rank :: self.dist.world_size]
        images = self.data.train.images[index]
        labels = self.data.train.labels[index]
        shift = self.config.data.augment_shift
        if shift > 0:
            generator = torch.Generator().manual_seed(self.config.seed * 7919 + self.global_step)
            images = random_shift(images, shift, generator)
        images = images.to(self.device, non_blocking=True)
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def _run_epoch(self, phase: PhaseConfig, choices: PhaseChoices, sampler: SubnetSampler) -> float:
        order = self._epoch_order()
        totals = self._epoch_totals
        epoch_start = time.perf_counter()
        images_done = 0
        self.supernet.train()
        while self.step_in_epoch < self.steps_per_epoch:
            images, labels = self._batch(order, self.step_in_epoch)
            loss, student_loss, hits = self._train_step(images, labels, phase, choices, sampler)
            if not math.isfinite(loss) or not math.isfinite(student_loss):
                raise TrainingDivergedError(
                    f"loss became {loss if not math.isfinite(loss) else student_loss} at step {self.global_step} "
                    f"(phase {phase.name!r}); lower optim.lr or check the data. The last good checkpoint is kept "
                    f"at {checkpoint_path(self.run_dir)}"
                )
            self.global_step += 1
            self.step_in_epoch += 1
            self.scheduler.step_update(num_updates=self.global_step - self._phase_start_step())
            totals.add(loss, student_loss, hits, len(labels))
            images_done += len(labels)
            rate = images_done / max(time.perf_counter() - epoch_start, 1e-9)
            self.run_log.advance(
                phase=phase.name, loss=f"{loss:.3f}", acc=f"{hits / len(labels):.3f}", img_s=f"{rate:.0f}"
            )
            self.run_log.scalar("train/loss", loss, self.global_step)
            self.run_log.scalar("train/student_loss", student_loss, self.global_step)
            self.run_log.scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.global_step)
            if self.global_step % self.config.checkpoint_every == 0:
                self.save_checkpoint()
        seconds = time.perf_counter() - epoch_start
        row = {
            "phase": phase.name,
            "epoch": self._epochs_done() + 1,
            "step": self.global_step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "loss": totals.loss / max(totals.steps, 1),
            "student_loss": totals.student_loss / max(totals.steps, 1),
            "train_acc": totals.correct / max(totals.seen, 1),
            "images_per_s": images_done / max(seconds, 1e-9),
            "seconds": seconds,
        }
        self.run_log.append_metrics(row)
        self._epoch_totals = EpochTotals()
        return float(row["loss"])

    def _epochs_done(self) -> int:
        """Epochs finished before the current one, over all phases."""
        return self.config.epochs_before(self.phase_index) + self.epoch_in_phase

    def _phase_start_step(self) -> int:
        return self.config.epochs_before(self.phase_index) * self.steps_per_epoch

    def _forward(self, arch: Arch, images: Tensor) -> Tensor:
        self.supernet.set_active(arch)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda" and self.config.bf16):
            return self.supernet(resize(images, int(arch["resolution"]))).float()

    def _train_step(
        self, images: Tensor, labels: Tensor, phase: PhaseConfig, choices: PhaseChoices, sampler: SubnetSampler
    ) -> tuple[float, float, int]:
        """One optimizer step over the phase's subnets; returns (label loss, student loss, correct)."""
        smoothing = self.config.optim.label_smoothing
        temperature = self.config.kd_temperature
        self.optimizer.zero_grad(set_to_none=True)
        soft_targets: Tensor | None = None
        loss_value, hits = float("nan"), 0
        students: list[Arch] = []
        if phase.sandwich:
            largest = choices.largest()
            logits = self._forward(largest, images)
            loss = classification_loss(logits, labels, smoothing)
            loss.backward()
            loss_value, hits = loss.item(), int((class_scores(logits).argmax(1) == labels).sum())
            if phase.teacher == "inplace":
                soft_targets = F.softmax(class_scores(logits).detach() / temperature, dim=1)
            students.append(choices.smallest())
        if phase.teacher == "frozen_full" and self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher(resize(images, int(self._teacher_arch["resolution"]))).float()
            soft_targets = F.softmax(teacher_logits / temperature, dim=1)
        students.extend(sampler.sample(self.rng) for _ in range(phase.random_subnets))
        student_losses = []
        for arch in students:
            logits = self._forward(arch, images)
            label_loss = classification_loss(logits, labels, smoothing)
            if soft_targets is None:
                loss = label_loss
            else:
                weight = self.config.student_label_weight
                distill = classification_loss(logits / temperature, soft_targets) * temperature**2
                loss = distill if weight == 0 else (1 - weight) * distill + weight * label_loss
            loss.backward()
            student_losses.append(loss.item())
            if not phase.sandwich and math.isnan(loss_value):
                loss_value, hits = loss.item(), int((class_scores(logits).argmax(1) == labels).sum())
        student_mean = sum(student_losses) / len(student_losses) if student_losses else 0.0
        loss_value, student_mean = self.dist.mean([loss_value, student_mean], self.device)
        if math.isfinite(loss_value) and math.isfinite(student_mean):
            self.dist.all_reduce_gradients(self.supernet.parameters())
            if self.config.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.optim.grad_clip, foreach=True)
            self.optimizer.step()
        return loss_value, student_mean, hits


def _initial_weights(path: str, net: str | None, supernet: Supernet) -> dict[str, Any]:
    """Put the weights of ``path`` (all but the classifier; ``net``: its published name) into ``supernet``;
    returns what the manifest records: the file, its SHA-256, the published net and the classifier keys left
    fresh."""
    with torch.random.fork_rng(devices=[]):  # building the source draws random numbers the run must not see
        source = load_initial_supernet(path, net)
        fresh = transfer_weights(source, supernet, path)
    return {"path": path, "sha256": file_digest(path), "net": net, "fresh": fresh}


def _limit_train(data: DataSplits, count: int) -> DataSplits:
    """``data`` with only the first ``count`` training images (``data.limit_train``)."""
    train = data.train
    limited = TensorImageDataset(train.images[:count], train.labels[:count], train.mean, train.std)
    return replace(data, train=limited)
