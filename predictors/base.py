"""The predictor contract and its safe file format.

A predictor maps feature rows (``float`` matrix, one row per architecture) to a metric. ``fit`` and ``predict``
work on numpy arrays; ``predict_with_spread`` adds an uncertainty (0 where a model has none) that searches use
for exploration. A saved predictor is a folder holding ``predictor.json`` (kind, format version, feature names,
target name, the model's own settings, the training rows' :class:`~predictors.domain.Domain` and, where the
fitting code set them, the space and class count the features describe) and, for torch models,
``weights.safetensors``: no pickle anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from predictors.domain import Domain
from search_spaces import safe_json
from search_spaces.atomic import recover_folder, replace_folder
from search_spaces.errors import CheckpointError, ConfigError, UnknownNameError, short_repr
from search_spaces.registry import Registry

__all__ = ["FORMAT_VERSION", "Predictor", "create_predictor", "load_predictor", "predictor_kinds", "register_predictor"]

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # version 1 files predate the domain, space and num_classes entries
_KINDS: Registry[type[Predictor]] = Registry("predictor kind")


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    """Class decorator: make ``cls`` loadable and creatable under ``cls.kind``.

    Raises:
        ValueError: another class is already registered under that kind (it stays registered).
    """
    return _KINDS.add(cls.kind, cls)


def predictor_kinds() -> list[str]:
    """Registered predictor kinds, sorted."""
    return _KINDS.names()


def create_predictor(kind: str, **options: Any) -> Predictor:
    """A new, unfitted predictor of a registered kind (see :func:`predictor_kinds`).

    Raises:
        UnknownNameError: listing the registered kinds.
    """
    return _KINDS.get(kind)(**options)


class Predictor(ABC):
    """Base class: subclasses set :attr:`kind` and implement fitting, prediction and (de)serialisation of their
    model; this class checks inputs and handles the file format."""

    kind: ClassVar[str]

    def __init__(self, feature_names: list[str] | None = None, target: str = "metric", seed: int = 0):
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.target = target
        self.seed = seed
        self.fitted = False
        self.domain: Domain | None = None  # what the training rows covered; None for a version-1 file
        self.space: str | None = None  # the space whose archs the features describe, where the fitting code says
        self.num_classes: int | None = None  # the class count the cost features (MACs, params) were counted at

    # ------------------------------------------------------------------ contract
    def fit(self, features: np.ndarray, targets: np.ndarray) -> Predictor:
        """Fit on ``features`` (n x d) and ``targets`` (n,); returns self."""
        x, y = self._check(features), np.asarray(targets, dtype=np.float64).reshape(-1)
        if len(x) != len(y):
            raise ConfigError(f"{len(x)} feature rows but {len(y)} targets", field="targets", value=len(y))
        if len(x) < 2 or not np.all(np.isfinite(y)):
            raise ConfigError("need at least 2 rows and finite targets to fit", field="targets")
        self._fit(x, y)
        self.domain = Domain.of(x)
        self.fitted = True
        return self

    def in_domain(self, features: np.ndarray) -> np.ndarray:
        """Per row, whether it lies within what the training rows covered (every column within its training
        range: no unseen decision value, no cost outside the seen range). All True where the domain is unknown (a
        version-1 file)."""
        x = self._check(features)
        if self.domain is None:
            return np.ones(len(x), dtype=bool)
        return self.domain.contains(x)

    def domain_distance(self, features: np.ndarray) -> np.ndarray:
        """Per row, how far outside the training domain it lies (0 inside; see :meth:`Domain.distance`)."""
        x = self._check(features)
        return np.zeros(len(x)) if self.domain is None else self.domain.distance(x)

    def describe_domain(self) -> dict[str, Any] | None:
        """The domain for people: each decision's values seen, each numeric column's range (None: unknown)."""
        return None if self.domain is None else self.domain.describe(self.feature_names)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted metric per row."""
        return self.predict_with_spread(features)[0]

    def predict_with_spread(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted metric and its spread (standard deviation over an ensemble; zeros if the model has none)."""
        if not self.fitted:
            raise ConfigError(f"{self.kind} predictor is not fitted yet", field="predictor")
        x = self._check(features)
        columns = self._columns()
        if columns is not None and x.shape[1] != columns:  # without feature names only the model knows its width
            raise ConfigError(
                f"features have {x.shape[1]} columns; the model was fitted on {columns}",
                field="features",
                value=x.shape[1],
                allowed=columns,
            )
        return self._predict(x)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the predictor to ``folder``: all files go to a temporary sibling folder that then replaces it, so
        a reader never sees a half-written predictor and a failed save keeps the previous one."""
        if not self.fitted:
            raise ConfigError(f"{self.kind} predictor is not fitted yet; nothing to save", field="predictor")
        target = Path(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            meta = {
                "format": "nas-predictor",
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "target": self.target,
                "seed": self.seed,
                "feature_names": self.feature_names,
                "settings": self._settings(),
                "domain": None if self.domain is None else self.domain.to_json(),
                "space": self.space,
                "num_classes": self.num_classes,
            }
            (staging / "predictor.json").write_text(json.dumps(meta))
            self._write_extra(staging)
            replace_folder(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise CheckpointError(f"cannot save predictor to {target}: {exc.strerror or exc}") from None
        return target

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _settings(self) -> dict[str, Any]:
        """JSON-able constructor settings and model state (everything but tensors)."""

    @abstractmethod
    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        """Rebuild the fitted model from :meth:`_settings` and the folder's other files."""

    def _columns(self) -> int | None:
        """Feature columns the fitted model reads, checked before :meth:`_predict` (None: not known)."""
        return None

    def _write_extra(self, folder: Path) -> None:  # noqa: B027  (optional hook, not abstract)
        """Write files besides ``predictor.json`` (tensors); nothing by default."""

    # ------------------------------------------------------------------ helpers
    def _check(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ConfigError(f"features must be a 2-d matrix, got shape {x.shape}", field="features")
        expected = len(self.feature_names) if self.feature_names is not None else None
        if expected is not None and x.shape[1] != expected:
            raise ConfigError(
                f"features have {x.shape[1]} columns; this predictor was built for {expected}",
                field="features",
                value=x.shape[1],
                allowed=expected,
            )
        if not np.all(np.isfinite(x)):
            raise ConfigError("features contain NaN or infinite values", field="features")
        return x


def load_predictor(folder: str | os.PathLike[str]) -> Predictor:
    """Load a predictor saved by :meth:`Predictor.save`.

    Raises:
        CheckpointError: missing folder, malformed or foreign ``predictor.json``, other format version.
        UnknownNameError: a predictor kind this version does not know.
    """
    source = Path(folder)
    recover_folder(source)  # a save killed between its two renames left the previous predictor beside it
    meta_path = source / "predictor.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{source} is not a saved predictor (no predictor.json)")
    try:
        meta = safe_json.loads(meta_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{meta_path} is {exc.strerror if isinstance(exc, OSError) else exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != "nas-predictor":
        found = short_repr(meta.get("format") if isinstance(meta, dict) else type(meta).__name__)
        raise CheckpointError(f"{meta_path} is not a predictor file (format={found})")
    if meta.get("format_version") not in _READABLE_VERSIONS:
        raise CheckpointError(
            f"{meta_path} has format_version={short_repr(meta.get('format_version'))}; this version reads "
            f"{', '.join(map(str, _READABLE_VERSIONS))}"
        )
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        shown = kind[:60] if isinstance(kind, str) else short_repr(kind)  # a hostile file may hold a huge name
        raise UnknownNameError(_KINDS.kind, shown, _KINDS.names())
    names, target, seed = meta.get("feature_names"), meta.get("target", "metric"), meta.get("seed", 0)
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"{meta_path}: feature_names must be a list of strings, got {short_repr(names)}")
    if not isinstance(target, str) or type(seed) is not int or not 0 <= seed < 2**32:
        raise CheckpointError(
            f"{meta_path}: target must be a string and seed an integer in 0..2**32-1; got target="
            f"{short_repr(target)}, seed={short_repr(seed)}"
        )
    if not isinstance(meta.get("settings"), dict):
        raise CheckpointError(f"{meta_path}: settings must be an object, got {short_repr(meta.get('settings'))}")
    space, num_classes = meta.get("space"), meta.get("num_classes")
    if not (space is None or isinstance(space, str)) or not (
        num_classes is None or (type(num_classes) is int and num_classes >= 1)
    ):
        raise CheckpointError(
            f"{meta_path}: space must be a string or null and num_classes a positive integer or null; got "
            f"space={short_repr(space)}, num_classes={short_repr(num_classes)}"
        )
    predictor = _KINDS.get(kind)(feature_names=names, target=target, seed=seed)
    predictor.space, predictor.num_classes = space, num_classes
    if meta.get("domain") is not None:
        try:
            predictor.domain = Domain.from_json(meta["domain"], len(names) if names is not None else None)
        except ValueError as exc:
            raise CheckpointError(f"{meta_path}: {exc}") from None
    try:
        predictor._restore(meta["settings"], source)
    except KeyError as exc:
        raise CheckpointError(f"{source} holds a malformed {kind} predictor: settings lack {exc}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{source} holds a malformed {kind} predictor: {exc}") from None
    columns = predictor._columns()
    if predictor.domain is not None and columns is not None and len(predictor.domain.low) != columns:
        raise CheckpointError(
            f"{meta_path}: the domain covers {len(predictor.domain.low)} columns, the model {columns}"
        )
    predictor.fitted = True
    return predictor
