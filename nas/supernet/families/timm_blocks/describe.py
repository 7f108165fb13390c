"""Reading a timm ``arch_def`` network into a plain description, and writing an arch back as an ``arch_def``.

timm builds MobileNetV3 / EfficientNet-style models from ``arch_def`` strings that its model generators decode
(``timm.models._efficientnet_builder.decode_arch_def``) and pass, with the head options (``num_features``,
``head_bias``, ``se_layer``, ``round_chs_fn``, ...), to the model class. :func:`capture` calls the generator with
the class constructor intercepted, so the decoded block arguments and options come from timm itself and no model
is built. :func:`describe` turns them into a :class:`TimmNet` (hashable, JSON-like): per block its type, channels
after timm's rounding, stride, kernels, expand ratio, squeeze-excite ratio and activation. Features that cannot be
elastic are refused by name (:class:`~search_spaces.ConfigError`).

An arch is written back as an ``arch_def`` with one block string per block (``ir_r1_k5_s2_e3.0_c40_se0.25_nre``),
channels already rounded, so timm's class rebuilds exactly the network the supernet computes
(:func:`arch_def`, :func:`model_kwargs`, :func:`export_args`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
from torch import nn

from search_spaces import Arch, ConfigError
from search_spaces.timm_blocks import TimmBlockChoices, TimmBlocksSpace, TimmStageChoices

__all__ = [
    "DEFAULT_CHOICES",
    "TimmBlock",
    "TimmNet",
    "arch_def",
    "block_string",
    "build_timm",
    "capture",
    "describe",
    "export_args",
    "model_kwargs",
    "stage_choices",
]

SUPPORTED_CLASSES = ("MobileNetV3", "EfficientNet")
ACT_NAMES = ("relu", "relu6", "hard_swish", "swish", "mish", "gelu", "hard_sigmoid", "sigmoid", "tanh", "prelu")
"""timm activation names an activation class is written back as (the first whose class it is)."""
_ACT_CODES = {"relu": "re", "relu6": "r6", "hard_swish": "hs", "swish": "sw", "mish": "mi"}
"""The block-string codes of the activations an ``arch_def`` can name per block (``_nre``)."""

DEFAULT_CHOICES: dict[str, Any] = {"kernel": (3, 5, 7), "expand": (3.0, 4.0, 6.0), "depth_drop": 2}
"""Elastic choices unless ``choices=`` says otherwise: depthwise kernels (plus the original), expand ratios (plus
the original) and how many trailing blocks a stage may drop (never below one block)."""
_CHOICE_KEYS = ("kernel", "expand", "depth_drop", "resolution")


@dataclass(frozen=True)
class TimmBlock:
    """One block as timm builds it: type, channels after rounding, stride, kernels, expand and SE ratio.

    ``kernel`` is the elastic kernel (the depthwise one; ``uir``: the middle depthwise conv, or the start one when
    there is none; ``er``/``cn``: the dense conv); ``start_kernel``/``end_kernel`` are a ``uir`` block's other
    depthwise kernels (0: absent). ``act`` is a timm activation name, None for the model's default.
    """

    kind: str
    in_channels: int
    out_channels: int
    stride: int
    kernel: int
    expand: float = 1.0
    se_ratio: float = 0.0
    act: str | None = None
    noskip: bool = False
    skip: bool = False
    start_kernel: int = 0
    end_kernel: int = 0
    kernels: tuple[int, ...] = ()
    expands: tuple[float, ...] = ()

    @property
    def elastic_kernel(self) -> bool:
        return len(self.kernels) > 1

    @property
    def elastic_conv(self) -> str:
        """The convolution whose kernel is the block's ``kernel``, relative to the block ('' for none)."""
        if self.kind in ("ds", "dsa", "ir"):
            return "conv_dw"
        if self.kind == "er":
            return "conv_exp"
        if self.kind == "cn":
            return "conv"
        if self.start_kernel < 0:
            return "dw_start.conv"
        return "dw_mid.conv" if self.kernel else ""


@dataclass(frozen=True)
class TimmNet:
    """A timm ``arch_def`` network and its elastic choices: what the family's supernet, costs and export read.

    ``stages`` are timm's (``blocks.{i}``); ``depths`` the allowed depths per stage. The head follows the class:
    MobileNetV3 pools, then ``conv_head`` (bias ``head_bias``), ``norm_head`` (``head_norm``) and the activation;
    EfficientNet applies ``conv_head`` and ``bn2`` before pooling. ``uir_mid`` says per ``uir`` block whether its
    elastic kernel is the middle depthwise conv (else the start one).
    """

    model: str
    timm_class: str
    stages: tuple[tuple[TimmBlock, ...], ...]
    depths: tuple[tuple[int, ...], ...]
    stem_size: int
    stem_stride: int
    stem_kernel: int
    act: str
    norm_eps: float
    se_gate: str
    se_force_act: str | None
    se_round_limit: float | None
    se_from_exp: bool
    num_features: int
    head_bias: bool
    head_norm: bool
    layer_scale: float | None

    def to_space_stages(self) -> tuple[TimmStageChoices, ...]:
        """The plain stage description the space is given."""
        return tuple(
            TimmStageChoices(
                index,
                tuple(
                    TimmBlockChoices(
                        b.kind, b.in_channels, b.out_channels, b.stride, b.kernel, b.expand, b.kernels, b.expands
                    )
                    for b in blocks
                ),
                depths,
            )
            for index, (blocks, depths) in enumerate(zip(self.stages, self.depths))
        )


# ---------------------------------------------------------------------- reading timm
class _Captured(Exception):
    def __init__(self, model_class: type, kwargs: dict[str, Any]):
        super().__init__(model_class.__name__)
        self.model_class, self.kwargs = model_class, kwargs


def capture(model: str) -> tuple[str, dict[str, Any]]:
    """``(class name, constructor kwargs)`` that ``timm.create_model(model)`` would build, without building it.

    The model's generator runs with ``build_model_with_cfg`` of its module intercepted: the decoded block arguments
    and options are timm's own.
    """
    from timm.models import _registry

    if not isinstance(model, str) or not _registry.is_model(model):
        raise ConfigError(f"unknown timm model {model!r}", field="model", value=model)
    entrypoint = _registry.model_entrypoint(model)
    module = importlib.import_module(entrypoint.__module__)
    original = getattr(module, "build_model_with_cfg", None)
    if original is None:
        raise ConfigError(
            f"timm model {model!r} is not built from an arch_def (module {module.__name__})", field="model", value=model
        )

    def intercept(model_class: type, variant: str, pretrained: bool, **kwargs: Any) -> nn.Module:
        raise _Captured(model_class, kwargs)

    module.build_model_with_cfg = intercept  # type: ignore[attr-defined]
    try:
        entrypoint(pretrained=False)
    except _Captured as captured:
        return captured.model_class.__name__, captured.kwargs
    finally:
        module.build_model_with_cfg = original  # type: ignore[attr-defined]
    raise ConfigError(f"timm model {model!r} was not built through its class", field="model", value=model)


def act_name(layer: Any, where: str) -> str:
    """The timm name of an activation given as a name or a class."""
    from timm.layers import get_act_layer

    if isinstance(layer, str):
        get_act_layer(layer)
        return layer
    for name in ACT_NAMES:
        if get_act_layer(name) is layer:
            return name
    raise ConfigError(f"{where}: activation {layer!r} has no timm name", field=where, value=repr(layer))


def _refuse(model: str, feature: str, where: str) -> ConfigError:
    return ConfigError(
        f"timm model {model!r} uses {feature} ({where}), which cannot be made elastic", field="model", value=model
    )


def _check_options(model: str, timm_class: str, kwargs: Mapping[str, Any]) -> None:
    if timm_class not in SUPPORTED_CLASSES:
        raise ConfigError(
            f"timm model {model!r} is a {timm_class}, not an arch_def network ({', '.join(SUPPORTED_CLASSES)})",
            field="model",
            value=model,
            allowed=SUPPORTED_CLASSES,
        )
    if kwargs.get("pad_type", ""):
        raise _refuse(model, f"{kwargs['pad_type']!r} padding (a TensorFlow port) with elastic kernels", "pad_type")
    if kwargs.get("aa_layer") is not None:
        raise _refuse(model, "anti-aliased downsampling", "aa_layer")
    if kwargs.get("output_stride", 32) != 32:
        raise _refuse(model, "dilated convolutions", "output_stride")
    norm = kwargs.get("norm_layer")
    if norm is not None and not (
        isinstance(norm, partial) and norm.func is nn.BatchNorm2d and set(norm.keywords) <= {"eps", "momentum"}
    ):
        raise _refuse(model, f"the normalization {norm!r}", "norm_layer")
    se = kwargs.get("se_layer")
    if se is not None:
        from timm.models._efficientnet_blocks import SqueezeExcite

        if not (isinstance(se, partial) and se.func is SqueezeExcite and not se.args):
            raise _refuse(model, f"the attention layer {se!r}", "se_layer")
        if set(se.keywords) - {"gate_layer", "force_act_layer", "rd_round_fn"}:
            raise _refuse(model, f"squeeze-excite options {sorted(se.keywords)}", "se_layer")


def _se_round_limit(model: str, se: Any) -> float | None:
    """None: SE hidden width by Python's ``round``; else ``round_channels`` with this round limit."""
    from timm.models._efficientnet_builder import round_channels

    rd_round = None if se is None else se.keywords.get("rd_round_fn")
    if rd_round is None:
        return None
    if rd_round is round_channels:
        return 0.9
    if isinstance(rd_round, partial) and rd_round.func is round_channels and not rd_round.args:
        options = dict(rd_round.keywords)
        limit = float(options.pop("round_limit", 0.9))
        if options.pop("multiplier", 1.0) != 1.0 or options.pop("divisor", 8) != 8 or options:
            raise _refuse(model, f"squeeze-excite rounding {rd_round!r}", "se_layer")
        return limit
    raise _refuse(model, f"squeeze-excite rounding {rd_round!r}", "se_layer")


def _block(model: str, args: Mapping[str, Any], in_channels: int, round_chs: Callable[[int], int], where: str):
    kind = args["block_type"]
    if kind in ("mha", "mqa"):
        raise _refuse(model, "attention blocks (mobile multi-head / multi-query attention)", where)
    if args.get("num_experts", 0):
        raise _refuse(model, "CondConv (mixture-of-experts convolutions)", where)
    if args.get("s2d"):
        raise _refuse(model, "space-to-depth", where)
    if args.get("force_in_chs"):
        raise _refuse(model, "a forced input width", where)
    for key in ("dw_kernel_size", "exp_kernel_size", "pw_kernel_size", "dw_kernel_size_mid"):
        if isinstance(args.get(key), (list, tuple)):
            raise _refuse(model, f"mixed kernels (MixConv, {key}={args[key]})", where)
    if args.get("pw_kernel_size", 1) != 1 or (kind == "ir" and args.get("exp_kernel_size", 1) != 1):
        raise _refuse(model, "non-1x1 pointwise convolutions", where)
    group_size = args.get("group_size")
    if group_size not in (None, 1 if kind != "cn" else 0):
        raise _refuse(model, f"grouped convolutions (group_size={group_size})", where)
    out_channels = int(round_chs(args["out_chs"]))
    if out_channels % 8:
        raise _refuse(model, f"{out_channels} channels (not a multiple of 8)", where)
    act = None if args.get("act_layer") is None else act_name(args["act_layer"], where)
    common = {"kind": kind, "in_channels": in_channels, "out_channels": out_channels, "stride": int(args["stride"])}
    common["act"] = act
    se_ratio = float(args.get("se_ratio", 0.0))
    if kind in ("ds", "dsa"):
        noskip = bool(args.get("noskip")) and kind == "ds"
        return TimmBlock(**common, kernel=int(args["dw_kernel_size"]), se_ratio=se_ratio, noskip=noskip)
    if kind == "ir":
        return TimmBlock(
            **common,
            kernel=int(args["dw_kernel_size"]),
            expand=float(args["exp_ratio"]),
            se_ratio=se_ratio,
            noskip=bool(args.get("noskip")),
        )
    if kind == "er":
        return TimmBlock(
            **common,
            kernel=int(args["exp_kernel_size"]),
            expand=float(args["exp_ratio"]),
            se_ratio=se_ratio,
            noskip=bool(args.get("noskip")),
        )
    if kind == "cn":
        return TimmBlock(**common, kernel=int(args["kernel_size"]), skip=bool(args.get("skip")))
    if kind == "uir":
        start, mid, end = (int(args[f"dw_kernel_size_{p}"]) for p in ("start", "mid", "end"))
        if mid:
            return TimmBlock(
                **common,
                kernel=mid,
                start_kernel=start,
                end_kernel=end,
                expand=float(args["exp_ratio"]),
                se_ratio=se_ratio,
                noskip=bool(args.get("noskip")),
            )
        # no middle depthwise conv: the start one (if any) is the elastic kernel, marked by a negative start
        return TimmBlock(
            **common,
            kernel=start,
            start_kernel=-1 if start else 0,
            end_kernel=end,
            expand=float(args["exp_ratio"]),
            se_ratio=se_ratio,
            noskip=bool(args.get("noskip")),
        )
    raise _refuse(model, f"block type {kind!r}", where)


def describe(model: str, choices: Mapping[str, Any] | None = None, *, stem_stride: int | None = None) -> TimmNet:
    """The :class:`TimmNet` of timm model ``model`` with elastic ``choices`` (see :data:`DEFAULT_CHOICES`).

    Raises:
        ConfigError: naming the feature of the model that cannot be elastic, or a bad choice.
    """
    options = check_choices(choices)
    timm_class, kwargs = capture(model)
    _check_options(model, timm_class, kwargs)
    from timm.models._efficientnet_builder import round_channels

    round_chs = kwargs.get("round_chs_fn", round_channels)
    stem_size = int(kwargs.get("stem_size", 16 if timm_class == "MobileNetV3" else 32))
    if not kwargs.get("fix_stem", False):
        stem_size = int(round_chs(stem_size))
    stages: list[tuple[TimmBlock, ...]] = []
    in_channels = stem_size
    for stage_index, stage_args in enumerate(kwargs["block_args"]):
        blocks = []
        for block_index, args in enumerate(stage_args):
            where = f"blocks.{stage_index}.{block_index}"
            args = dict(args, stride=args["stride"] if block_index == 0 else 1)
            block = _block(model, args, in_channels, round_chs, where)
            blocks.append(block)
            in_channels = block.out_channels
        stages.append(tuple(blocks))
    default_act = "relu" if kwargs.get("act_layer") is None else act_name(kwargs["act_layer"], "act_layer")
    norm = kwargs.get("norm_layer")
    se = kwargs.get("se_layer")
    se_gate = "sigmoid" if se is None else act_name(se.keywords.get("gate_layer", nn.Sigmoid), "se_layer.gate_layer")
    force = None if se is None else se.keywords.get("force_act_layer")
    num_features = int(kwargs.get("num_features", 1280))
    if timm_class == "EfficientNet" and num_features <= 0:
        raise _refuse(model, "no head convolution (num_features=0)", "num_features")
    net = TimmNet(
        model=model,
        timm_class=timm_class,
        stages=tuple(stages),
        depths=(),
        stem_size=stem_size,
        stem_stride=2,
        stem_kernel=int(kwargs.get("stem_kernel_size", 3)),
        act=default_act,
        norm_eps=float(norm.keywords.get("eps", 1e-5)) if isinstance(norm, partial) else 1e-5,
        se_gate=se_gate,
        se_force_act=None if force is None else act_name(force, "se_layer.force_act_layer"),
        se_round_limit=_se_round_limit(model, se),
        se_from_exp=bool(kwargs.get("se_from_exp", timm_class == "MobileNetV3")),
        num_features=num_features,
        head_bias=bool(kwargs.get("head_bias", True)) if timm_class == "MobileNetV3" else False,
        head_norm=bool(kwargs.get("head_norm", False)),
        layer_scale=kwargs.get("layer_scale_init_value"),
    )
    if stem_stride is not None:
        net = small_image(net, stem_stride)
    return with_choices(net, options)


def small_image(net: TimmNet, stem_stride: int) -> TimmNet:
    """``net`` for small images: stem stride ``stem_stride`` and the last stride-2 stage at stride 1 (total
    downsampling 8 instead of 32 for a stride-1 stem, as ``ofa_mbv3_small`` does)."""
    stages = [list(blocks) for blocks in net.stages]
    strided = [index for index, blocks in enumerate(stages) if blocks[0].stride == 2]
    if strided:
        last = strided[-1]
        stages[last][0] = replace(stages[last][0], stride=1)
    return replace(net, stages=tuple(tuple(blocks) for blocks in stages), stem_stride=stem_stride)


def check_choices(choices: Mapping[str, Any] | None) -> dict[str, Any]:
    """``choices`` over :data:`DEFAULT_CHOICES`, validated (a :class:`ConfigError` names a bad key or value)."""
    options = dict(DEFAULT_CHOICES)
    if choices is None:
        return options
    if not isinstance(choices, Mapping):
        raise ConfigError(f"choices must be a mapping, got {type(choices).__name__}", field="choices", value=choices)
    for key, value in choices.items():
        if key not in _CHOICE_KEYS:
            raise ConfigError(f"unknown choice {key!r}", field=f"choices.{key}", value=value, allowed=_CHOICE_KEYS)
        if key == "depth_drop":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"choices.depth_drop={value!r} must be an int >= 0", field="choices.depth_drop")
            options[key] = value
            continue
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise ConfigError(f"choices.{key} must be a non-empty list", field=f"choices.{key}", value=value)
        if key in ("kernel", "resolution"):
            bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int) or v < 1]
            bad += [v for v in value if key == "kernel" and isinstance(v, int) and v % 2 == 0]
            if bad:
                what = "odd ints >= 1" if key == "kernel" else "ints >= 1"
                raise ConfigError(
                    f"choices.{key} must hold {what}, got {bad[0]!r}", field=f"choices.{key}", value=value
                )
            options[key] = tuple(sorted(set(value)))
        else:
            bad = [v for v in value if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 12]
            if bad:
                raise ConfigError(f"choices.expand values must lie in 1..12, got {bad[0]!r}", field="choices.expand")
            options[key] = tuple(sorted({float(v) for v in value}))
    return options


def _droppable(block: TimmBlock) -> bool:
    return block.stride == 1 and block.in_channels == block.out_channels


def with_choices(net: TimmNet, options: Mapping[str, Any]) -> TimmNet:
    """``net`` with per-block kernel/expand choices and per-stage depths from ``options``.

    The first stage and stages of single 1x1 convolutions stay fixed; depthwise kernels get ``options["kernel"]``
    plus the original, expand ratios ``options["expand"]`` plus the original; dense kernels (``er``, ``cn``) stay
    fixed. A stage may drop up to ``depth_drop`` trailing blocks whose input and output shapes agree.
    """
    stages, depths = [], []
    for index, blocks in enumerate(net.stages):
        fixed = index == 0 or all(b.kind == "cn" and b.kernel == 1 for b in blocks)
        new_blocks = []
        for block in blocks:
            kernels: tuple[int, ...] = (block.kernel,)
            expands: tuple[float, ...] = (block.expand,)
            if not fixed:
                if block.kind in ("ds", "dsa", "ir", "uir") and block.kernel > 0:
                    kernels = tuple(sorted(set(options["kernel"]) | {block.kernel}))
                if block.kind in ("ir", "er", "uir"):
                    expands = tuple(sorted(set(options["expand"]) | {block.expand}))
            new_blocks.append(replace(block, kernels=kernels, expands=expands))
        stages.append(tuple(new_blocks))
        keep = len(blocks)
        if not fixed:
            while keep > 1 and len(blocks) - keep < options["depth_drop"] and _droppable(blocks[keep - 1]):
                keep -= 1
        depths.append(tuple(range(keep, len(blocks) + 1)))
    return replace(net, stages=tuple(stages), depths=tuple(depths))


def stage_choices(net: TimmNet) -> tuple[TimmStageChoices, ...]:
    """The space's description of ``net``."""
    return net.to_space_stages()


# ---------------------------------------------------------------------- writing an arch back
def _number(value: float) -> str:
    return repr(float(value))


def block_string(net: TimmNet, block: TimmBlock, kernel: int, expand: float) -> str:
    """The timm block string of ``block`` with ``kernel`` and ``expand`` (one repeat, channels already rounded)."""
    parts = [block.kind, "r1"]
    if block.kind == "uir":
        start = kernel if block.start_kernel < 0 else block.start_kernel
        mid = kernel if block.start_kernel >= 0 else 0
        parts += [f"a{start}", f"k{mid}", f"p{block.end_kernel}"]
    else:
        parts.append(f"k{kernel}")
    parts.append(f"s{block.stride}")
    if block.kind in ("ir", "er", "uir"):
        parts.append(f"e{_number(expand)}")
    parts.append(f"c{block.out_channels}")
    if block.se_ratio:
        parts.append(f"se{_number(block.se_ratio)}")
    if block.noskip:
        parts.append("noskip")
    if block.skip:
        parts.append("skip")
    if block.act is not None:
        code = _ACT_CODES.get(block.act)
        if code is None:
            raise ConfigError(
                f"block activation {block.act!r} cannot be written in an arch_def", field="act", value=block.act
            )
        parts.append(f"n{code}")
    return "_".join(parts)


def arch_def(net: TimmNet, space: TimmBlocksSpace, arch: Arch) -> list[list[str]]:
    """The timm ``arch_def`` of ``arch``: per stage the block strings of the blocks it keeps."""
    result = []
    for stage, blocks in zip(space.stages, net.stages):
        depth = space.depth(arch, stage)
        strings = []
        for position in range(1, depth + 1):
            kernel, expand = space.block_choice(arch, stage, position)
            strings.append(block_string(net, blocks[position - 1], kernel, float(expand)))
        result.append(strings)
    return result


def _se_options(net: TimmNet) -> dict[str, Any]:
    options: dict[str, Any] = {"gate_layer": net.se_gate, "force_act_layer": net.se_force_act}
    options["rd_round_fn"] = None if net.se_round_limit is None else "round_channels"
    if net.se_round_limit is not None and net.se_round_limit != 0.9:
        options["rd_round_limit"] = net.se_round_limit
    return options


def export_args(net: TimmNet, block_args: list[list[str]], num_classes: int, drop_rate: float) -> dict[str, Any]:
    """JSON constructor options of the timm class (see :mod:`nas.supernet.timm_model` for the decoded keys)."""
    args: dict[str, Any] = {
        "block_args": block_args,
        "num_classes": num_classes,
        "stem_size": net.stem_size,
        "fix_stem": True,
        "num_features": net.num_features,
        "act_layer": net.act,
        "norm_eps": net.norm_eps,
        "se_layer": _se_options(net),
        "drop_rate": drop_rate,
    }
    if net.timm_class == "MobileNetV3":
        args.update(head_bias=net.head_bias, head_norm=net.head_norm, se_from_exp=net.se_from_exp)
        if net.layer_scale is not None:
            args["layer_scale_init_value"] = net.layer_scale
    elif net.stem_kernel != 3:
        args["stem_kernel_size"] = net.stem_kernel
    return args


def model_kwargs(net: TimmNet, block_args: list[list[str]], num_classes: int, drop_rate: float) -> dict[str, Any]:
    """Python constructor options of the timm class: :func:`export_args` decoded as timm's generators would."""
    from timm.layers import get_act_layer
    from timm.models._efficientnet_blocks import SqueezeExcite
    from timm.models._efficientnet_builder import decode_arch_def, round_channels

    args = export_args(net, block_args, num_classes, drop_rate)
    args["block_args"] = decode_arch_def(block_args)
    args["act_layer"] = get_act_layer(args["act_layer"])
    args["norm_layer"] = partial(nn.BatchNorm2d, eps=args.pop("norm_eps"))
    se = dict(args["se_layer"])
    limit = se.pop("rd_round_limit", None)
    if se["rd_round_fn"] is not None:
        se["rd_round_fn"] = round_channels if limit is None else partial(round_channels, round_limit=limit)
    if se["force_act_layer"] is not None:
        se["force_act_layer"] = get_act_layer(se["force_act_layer"])
    args["se_layer"] = partial(SqueezeExcite, **se)
    return args


def build_timm(
    net: TimmNet,
    block_args: list[list[str]],
    num_classes: int,
    drop_rate: float = 0.0,
    device: Any = None,
) -> nn.Module:
    """The timm model of ``block_args`` (its own class, timm's initialisation; ``device="meta"``: no memory)."""
    from timm import models

    model_class = getattr(models, net.timm_class)
    model = model_class(**model_kwargs(net, block_args, num_classes, drop_rate), device=torch.device(device or "cpu"))
    if net.stem_stride != 2:
        model.conv_stem.stride = (net.stem_stride, net.stem_stride)
    return model
