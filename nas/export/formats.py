"""The export formats: how a static subnet is written to a folder and how the written artifact is run again.

``pytorch`` is the subnet's state dict in safetensors plus ``arch.json``; :func:`load_subnet` rebuilds the static
network from them alone (no supernet, no pickle). ``torchscript`` is a traced TorchScript archive (deprecated by
PyTorch, kept for older runtimes), ``pt2`` a ``torch.export`` program, ``onnx`` an opset-17 ONNX graph from the
TorchScript-based exporter, ``onnx-int8`` that graph quantized by ONNX Runtime (:mod:`nas.export.int8`), and
``timm`` the subnet as a native timm model (:mod:`nas.export.timm_format`) for the families that have one. Every
artifact takes a float32 ``(batch, 3, r, r)`` input and returns the logits; the batch dimension is dynamic.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nas.data.preprocessing import Preprocessing
from nas.export.int8 import INT8_FILE, INT8_RELATIVE_TOLERANCE, FormatData, accuracy_of, quantize_onnx
from nas.export.timm_format import TIMM_FILES, check_timm, load_written_timm, write_timm
from nas.profile.quantization import QUANTIZATION
from nas.supernet.registry import static_subnet
from search_spaces import CheckpointError, ConfigError, NasError, Registry, SearchSpace, get_space
from search_spaces.atomic import atomic_write_text, recover_folder
from search_spaces.parsing import arch_from_json

__all__ = [
    "ARCH_FILE",
    "FORMATS",
    "SUBNET_FORMAT",
    "SUBNET_FORMAT_VERSION",
    "WEIGHTS_FILE",
    "Format",
    "check_formats",
    "load_subnet",
    "onnx_session",
]

SUBNET_FORMAT = "nas-subnet"
SUBNET_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
ARCH_FILE = "arch.json"
TORCHSCRIPT_FILE = "model.torchscript.pt"
PT2_FILE = "model.pt2"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "logits"

Runner = Callable[[Tensor], Tensor]


Writer = Callable[..., Mapping[str, Any] | None]
"""``(subnet, example, folder, preprocessing=None) -> details``: writes the format's files for an eval-mode static
subnet, ``example`` input (a batch of real images at the arch's resolution) and the
:class:`~nas.data.preprocessing.Preprocessing` its inputs went through (None: inputs taken as they are); returns
what the model card should say about the files besides their names (None: nothing)."""


@dataclass(frozen=True)
class Format:
    """One export format: its files (relative to the export folder), how to write them (:data:`Writer`), how to
    load the written files back into a callable, and, where a format cannot write every space's subnets, a check
    raising ConfigError for a space it cannot write (run before anything is computed)."""

    name: str
    files: tuple[str, ...]
    summary: str
    write: Writer
    load: Callable[[Path], Runner]
    check: Callable[[SearchSpace], object] | None = None
    needs_data: bool = False  # the writer takes ``data=FormatData`` (calibration images, the test split)
    relative_tolerance: float | None = None  # parity relative to the largest logit, instead of the export's


def load_subnet(folder: str | os.PathLike[str]) -> nn.Module:
    """Rebuild an exported static subnet (format ``pytorch``) from ``arch.json`` and ``model.safetensors``.

    Raises:
        CheckpointError: a file is missing, unreadable, of another format or version, or does not fit the arch.
    """
    from safetensors import safe_open

    source = Path(folder)
    recover_folder(source)  # an --overwrite killed between its two renames left the previous export beside it
    arch_path, weights_path = source / ARCH_FILE, source / WEIGHTS_FILE
    for path in (arch_path, weights_path):
        if not path.is_file():
            raise CheckpointError(f"{source} is not an exported subnet: {path.name} is missing")
    try:
        arch = arch_from_json(arch_path.read_text())
    except (OSError, UnicodeDecodeError, NasError) as exc:
        raise CheckpointError(f"cannot read {arch_path}: {exc}") from None
    space = get_space(arch.space)
    try:
        with safe_open(str(weights_path), framework="pt") as stream:
            metadata = stream.metadata() or {}
            tensors = {key: stream.get_tensor(key) for key in stream.keys()}
    except Exception as exc:  # safetensors raises several types for missing, truncated or foreign files
        raise CheckpointError(f"cannot read {weights_path}: {str(exc).splitlines()[0][:200]}") from None
    if metadata.get("format") != SUBNET_FORMAT or metadata.get("format_version") != str(SUBNET_FORMAT_VERSION):
        raise CheckpointError(
            f"{weights_path} is not a {SUBNET_FORMAT} v{SUBNET_FORMAT_VERSION} file "
            f"(format={metadata.get('format')!r}, version={metadata.get('format_version')!r})"
        )
    if metadata.get("space") != arch.space:
        raise CheckpointError(
            f"{weights_path} is for space {metadata.get('space')!r} but {ARCH_FILE} for {arch.space!r}"
        )
    try:
        num_classes, dropout = int(metadata["num_classes"]), float(metadata["dropout"])
        model = static_subnet(space, arch, num_classes, dropout=dropout, device="meta")
        model.load_state_dict(tensors, strict=True, assign=True)
    except ConfigError as exc:
        raise CheckpointError(f"{arch_path}: space {arch.space!r} has no static subnet to rebuild ({exc})") from None
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path} does not fit {ARCH_FILE}: {' '.join(str(exc).split())[:300]}") from None
    return model.eval()


def _head(subnet: Any) -> tuple[int, float]:
    """The class count and classifier dropout of a static subnet: the platform's own (``classifier``, ``dropout``)
    or a timm model's (``num_classes``; ``drop_rate``, or a vision transformer's ``head_drop``)."""
    if isinstance(getattr(subnet, "num_classes", None), int):
        dropout = subnet.drop_rate if hasattr(subnet, "drop_rate") else subnet.head_drop.p
        return subnet.num_classes, float(dropout)
    return subnet.classifier.out_features, float(subnet.dropout.p)


def _write_pytorch(model: nn.Module, example: Tensor, folder: Path, preprocessing: Preprocessing | None = None) -> None:
    from safetensors.torch import save_file

    subnet: Any = model
    state = {key: value.detach().contiguous() for key, value in subnet.state_dict().items()}
    num_classes, dropout = _head(subnet)
    metadata = {
        "format": SUBNET_FORMAT,
        "format_version": str(SUBNET_FORMAT_VERSION),
        "space": subnet.space_name,
        "num_classes": str(num_classes),
        "dropout": str(dropout),
    }
    save_file(state, str(folder / WEIGHTS_FILE), metadata)
    atomic_write_text(folder / ARCH_FILE, subnet.arch.to_json() + "\n")


def _load_pytorch(folder: Path) -> Runner:
    return _no_grad(load_subnet(folder))


def _write_torchscript(
    model: nn.Module, example: Tensor, folder: Path, preprocessing: Preprocessing | None = None
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notices
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(folder / TORCHSCRIPT_FILE))


def _load_torchscript(folder: Path) -> Runner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _no_grad(torch.jit.load(str(folder / TORCHSCRIPT_FILE), map_location="cpu").eval())


def _write_pt2(model: nn.Module, example: Tensor, folder: Path, preprocessing: Preprocessing | None = None) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    with torch.no_grad():
        program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(folder / PT2_FILE))


def _load_pt2(folder: Path) -> Runner:
    return _no_grad(torch.export.load(str(folder / PT2_FILE)).module())


def _write_onnx(model: nn.Module, example: Tensor, folder: Path, preprocessing: Preprocessing | None = None) -> None:
    import onnx

    path = folder / ONNX_FILE
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(
            model,
            (example[:1],),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            dynamo=False,
            opset_version=ONNX_OPSET,
        )
    onnx.checker.check_model(str(path))


def onnx_session(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """An ONNX Runtime CPU inference session for an exported ``model.onnx`` with ``threads`` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _onnx_runner(path: Path) -> Runner:
    """The written ONNX graph at ``path`` run by ONNX Runtime (images -> logits)."""
    session = onnx_session(path)

    def run(images: Tensor) -> Tensor:
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.detach().cpu().numpy()})
        return torch.from_numpy(logits)

    return run


def _load_onnx(folder: Path) -> Runner:
    return _onnx_runner(folder / ONNX_FILE)


def _write_onnx_int8(
    model: nn.Module,
    example: Tensor,
    folder: Path,
    preprocessing: Preprocessing | None = None,
    data: FormatData | None = None,
) -> Mapping[str, Any]:
    if data is None:
        raise ConfigError("format 'onnx-int8' needs calibration images", field="format", value="onnx-int8")
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        _write_onnx(model, example, Path(scratch))
        quantize_onnx(Path(scratch) / ONNX_FILE, folder / INT8_FILE, data.calibration, INPUT_NAME)
    fp32 = data.float_accuracy
    int8 = accuracy_of(_load_onnx_int8(folder), data.test_images, data.test_labels)
    return {
        "quantization": QUANTIZATION,
        "calibration_images": len(data.calibration),
        "test_images": len(data.test_images),
        "accuracy_float32": fp32,
        "accuracy_int8": int8,
        "accuracy_change": int8 - fp32,
        "relative_tolerance": INT8_RELATIVE_TOLERANCE,
    }


def _load_onnx_int8(folder: Path) -> Runner:
    return _onnx_runner(folder / INT8_FILE)


def _load_timm(folder: Path) -> Runner:
    return _no_grad(load_written_timm(folder))


def _no_grad(module: Callable[[Tensor], Tensor]) -> Runner:
    def run(images: Tensor) -> Tensor:
        with torch.no_grad():
            return module(images)

    return run


FORMATS: Registry[Format] = Registry("format")
"""The export formats by name, in the order they are offered."""
for _format in (
    Format(
        "pytorch",
        (WEIGHTS_FILE, ARCH_FILE),
        "state dict (safetensors) + arch JSON; nas.export.load_subnet(folder) rebuilds the network",
        _write_pytorch,
        _load_pytorch,
    ),
    Format(
        "torchscript",
        (TORCHSCRIPT_FILE,),
        "traced TorchScript; torch.jit.load(path)",
        _write_torchscript,
        _load_torchscript,
    ),
    Format("pt2", (PT2_FILE,), "torch.export program; torch.export.load(path).module()", _write_pt2, _load_pt2),
    Format(
        "onnx",
        (ONNX_FILE,),
        f"ONNX opset {ONNX_OPSET}, input {INPUT_NAME!r}, output {OUTPUT_NAME!r}, dynamic batch",
        _write_onnx,
        _load_onnx,
    ),
    Format(
        "onnx-int8",
        (INT8_FILE,),
        f"ONNX Runtime int8 (static QDQ, calibrated on training images), float32 input {INPUT_NAME!r} and output "
        f"{OUTPUT_NAME!r}, dynamic batch; parity relative, within {INT8_RELATIVE_TOLERANCE:.0%} of the largest logit",
        _write_onnx_int8,
        _load_onnx_int8,
        needs_data=True,
        relative_tolerance=INT8_RELATIVE_TOLERANCE,
    ),
    Format(
        "timm",
        TIMM_FILES,
        "timm's own class in timm/ (config.json + safetensors); timm/load_timm.py rebuilds it with timm alone",
        write_timm,
        _load_timm,
        check_timm,
    ),
):
    FORMATS.add(_format.name, _format)


def check_formats(names: Iterable[str]) -> tuple[str, ...]:
    """The requested formats in order, without repeats; an unknown name lists the valid ones."""
    if isinstance(names, str):
        names = [names]
    chosen = tuple(dict.fromkeys(names))
    if not chosen:
        raise ConfigError(f"at least one format is needed; valid formats: {', '.join(FORMATS)}", field="format")
    for name in chosen:
        FORMATS.get(name)
    return chosen
