"""An ensemble of small MLPs in torch: mean and spread of the members' predictions.

Each member sees a bootstrap sample of the training rows and its own initialisation, so their disagreement is a
usable uncertainty for search (e.g. upper-confidence exploration). Features and targets are standardised with
statistics stored beside the weights.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from predictors.base import Predictor, register_predictor
from search_spaces.errors import short_repr

__all__ = ["MLPEnsemble"]


class _BatchedMLP(nn.Module):
    """``members`` independent MLPs evaluated together with batched matrix products (one pass for all)."""

    def __init__(self, members: int, inputs: int, hidden: list[int]):
        super().__init__()
        widths = [inputs, *hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(widths):
            bound = 1.0 / fan_in**0.5
            self.weights.append(nn.Parameter(torch.empty(members, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (members, rows, inputs) -> (members, rows)."""
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if index < len(self.weights) - 1:
                x = torch.relu(x)
        return x.squeeze(-1)


@register_predictor
class MLPEnsemble(Predictor):
    """``members`` MLPs with ``hidden`` layer widths, trained with Adam on mean squared error."""

    kind = "mlp_ensemble"

    def __init__(
        self,
        feature_names: list[str] | None = None,
        target: str = "metric",
        seed: int = 0,
        members: int = 5,
        hidden: tuple[int, ...] = (128, 128),
        steps: int = 600,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
    ):
        super().__init__(feature_names, target, seed)
        self.members, self.hidden, self.steps = members, list(hidden), steps
        self.lr, self.weight_decay = lr, weight_decay
        self.model: _BatchedMLP | None = None
        self.x_mean = self.x_std = np.zeros(0)
        self.y_mean, self.y_std = 0.0, 1.0

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-8
        self.y_mean, self.y_std = float(y.mean()), float(y.std() + 1e-8)
        inputs = torch.tensor((x - self.x_mean) / self.x_std, dtype=torch.float32)
        targets = torch.tensor((y - self.y_mean) / self.y_std, dtype=torch.float32)
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        model = _BatchedMLP(self.members, x.shape[1], self.hidden)
        bootstrap = torch.randint(0, len(x), (self.members, len(x)), generator=generator)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        batch = min(64, len(x))
        for _ in range(self.steps):
            pick = torch.randint(0, len(x), (self.members, batch), generator=generator)
            rows = torch.gather(bootstrap, 1, pick)  # each member draws from its own bootstrap sample
            loss = nn.functional.mse_loss(model(inputs[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.model = model.eval()

    def _columns(self) -> int:
        return len(self.x_mean)

    @torch.no_grad()
    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.model is not None
        inputs = torch.tensor((x - self.x_mean) / self.x_std, dtype=torch.float32)
        outputs = self.model(inputs.expand(self.members, -1, -1)).double().numpy() * self.y_std + self.y_mean
        return outputs.mean(0), outputs.std(0)

    def _settings(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "hidden": self.hidden,
            "steps": self.steps,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "x_mean": self.x_mean.tolist(),
            "x_std": self.x_std.tolist(),
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }

    def _write_extra(self, folder: Path) -> None:
        assert self.model is not None
        save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(folder / "weights.safetensors"))

    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        members, hidden = settings["members"], settings["hidden"]
        if type(members) is not int or not isinstance(hidden, list) or any(type(h) is not int for h in hidden):
            raise ValueError("members must be an integer and hidden a list of integers")
        self.members, self.hidden, self.steps = members, list(hidden), settings["steps"]
        self.lr, self.weight_decay = settings["lr"], settings["weight_decay"]
        self.x_mean, self.x_std = _finite_array(settings["x_mean"], "x_mean"), _finite_array(settings["x_std"], "x_std")
        self.y_mean, self.y_std = float(settings["y_mean"]), float(settings["y_std"])
        inputs = len(self.x_mean)
        if len(self.x_std) != inputs or np.any(self.x_std <= 0) or not (np.isfinite(self.y_mean) and self.y_std > 0):
            raise ValueError("x_mean/x_std must have equal lengths, x_std and y_std be > 0 and y_mean be finite")
        if self.feature_names is not None and len(self.feature_names) != inputs:
            raise ValueError(f"x_mean has {inputs} entries but feature_names lists {len(self.feature_names)}")
        try:
            tensors = load_file(str(folder / "weights.safetensors"))
        except Exception as exc:  # safetensors raises several types for missing or corrupt files
            raise ValueError(f"weights.safetensors unreadable ({exc})") from None
        # the shapes the settings imply, compared before anything is allocated from them
        widths = [inputs, *self.hidden, 1]
        expected = {}
        for index, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            expected[f"weights.{index}"] = (members, fan_in, fan_out)
            expected[f"biases.{index}"] = (members, 1, fan_out)
        found = {key: tuple(tensor.shape) for key, tensor in tensors.items()}
        if found != expected:
            raise ValueError(f"weights.safetensors holds shapes {short_repr(found)}; the settings imply {expected}")
        if not all(tensor.is_floating_point() and bool(torch.isfinite(tensor).all()) for tensor in tensors.values()):
            raise ValueError("weights.safetensors holds non-float or non-finite weights")
        model = _BatchedMLP(self.members, inputs, self.hidden)
        model.load_state_dict(tensors)
        self.model = model.eval()


def _finite_array(values: Any, name: str) -> np.ndarray:
    """A 1-d float array of finite numbers from a JSON list."""
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be a list of numbers")
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds non-finite numbers")
    return array
