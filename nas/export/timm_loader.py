"""Rebuild a subnet exported by ``nas export --format timm`` as a native timm model.

Needs torch, timm and safetensors only. ``nas export`` copies this file, unchanged, beside the export's
``config.json`` and ``model.safetensors`` as ``load_timm.py``:

    import timm
    from load_timm import load_timm_model

    model = load_timm_model("EXPORT/timm")  # the folder holding config.json and model.safetensors
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model))

``python load_timm.py [FOLDER]`` loads the folder (by default its own) and prints a one-line summary.

``config.json`` names the timm class and its constructor options (``model_args``) in JSON; :func:`build_timm_model`
turns the few that are not plain values into timm objects (``block_args``: a timm ``arch_def``; ``act_layer``;
``norm_eps``; ``se_layer``; a ``ResNet``'s ``block`` name), sets what timm's constructors cannot (``stem_stride``;
per-layer transformer ``blocks``; a ``ResNet``'s ``stem`` and per-bottleneck widths, ``bottlenecks``) and attaches
the ``pretrained_cfg`` (input size, mean, std, interpolation, crop) that timm's data helpers read.

A ``ResNet``'s ``stem`` (``{"widths": [mid, out], "residual": bool, "stride": int, "max_pool": bool}``) replaces
timm's deep stem under its key names: ``conv1.0``-``conv1.2`` (3x3 convolution of ``stride``, BN, ReLU),
``conv1.3``-``conv1.5`` (3x3 convolution, BN, ReLU, added to its input: :class:`ResidualStem`; absent unless
``residual``), ``conv1.6`` (3x3 convolution to ``out``), then ``bn1``; without ``max_pool``, no max pool.
``bottlenecks`` holds one ``{"stride": int, "widths": [int, ...]}`` per stage: each bottleneck's
``conv1``/``bn1``/``conv2``/``bn2``/``conv3`` are rebuilt around its middle width, and the stage's first block takes
``stride`` in ``conv2`` and in its ``downsample`` (timm's ``downsample_avg``, wherever stride or width changes).
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from timm.layers import Attention, LayerNorm, get_act_layer, get_norm_layer
from timm.models import _efficientnet_blocks as efficientnet_blocks
from timm.models import resnet
from timm.models._efficientnet_builder import decode_arch_def, round_channels  # timm's block-string parser
from timm.models.vision_transformer import Block

FORMAT = "nas-timm"


def _decode(timm_class: str, args: dict) -> dict:
    """The constructor options of ``model_args`` with the JSON encodings turned into timm objects."""
    args = dict(args)
    if "block_args" in args:
        args["block_args"] = decode_arch_def(args["block_args"])
    if "act_layer" in args:
        args["act_layer"] = get_act_layer(args["act_layer"])
    if "norm_eps" in args:
        norm = LayerNorm if timm_class == "VisionTransformer" else torch.nn.BatchNorm2d
        args["norm_layer"] = partial(norm, eps=args.pop("norm_eps"))
    if "se_layer" in args:
        se = dict(args["se_layer"])
        for key in ("gate_layer", "force_act_layer"):
            se[key] = get_act_layer(se.get(key))
        limit = se.pop("rd_round_limit", None)
        if se.get("rd_round_fn") == "round_channels":
            se["rd_round_fn"] = round_channels if limit is None else partial(round_channels, round_limit=limit)
        args["se_layer"] = partial(efficientnet_blocks.SqueezeExcite, **{k: v for k, v in se.items() if v is not None})
    if timm_class == "ResNet" and isinstance(args.get("block"), str):
        args["block"] = getattr(resnet, args["block"])  # "Bottleneck" or "BasicBlock"
    return args


def _transformer_block(model: torch.nn.Module, args: dict, layer: dict) -> Block:
    """A transformer layer of ``layer``'s heads, MLP ratio and head width, otherwise as ``VisionTransformer`` builds
    its layers."""
    options = {
        "qkv_bias": args.get("qkv_bias", True),
        "qk_norm": args.get("qk_norm", False),
        "proj_bias": args.get("proj_bias", True),
        "norm_layer": get_norm_layer(args.get("norm_layer")) or LayerNorm,
    }
    act_layer = args.get("act_layer") or torch.nn.GELU
    dim, heads = model.embed_dim, layer["num_heads"]
    block = Block(dim, heads, layer["mlp_ratio"], init_values=args.get("init_values"), act_layer=act_layer, **options)
    if layer.get("attn_head_dim") is not None:  # timm's Block gives its attention no head width of its own
        block.attn = Attention(dim, heads, attn_head_dim=layer["attn_head_dim"], **options)
    return block


class ResidualStem(torch.nn.Sequential):
    """A ResNet's deep stem ``conv1`` whose middle convolution adds its input: ``6(x + 5(4(3(x))))`` with
    ``x = 2(1(0(input)))`` (layers numbered as in timm's deep stem)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self[2](self[1](self[0](x)))
        return self[6](x + self[5](self[4](self[3](x))))


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> torch.nn.Conv2d:
    return torch.nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)


def _resnet_stem(model: torch.nn.Module, norm: type | partial, stem: dict) -> None:
    """Replace ``model.conv1``, ``bn1`` (and ``maxpool``) by ``stem``'s widths, middle convolution and stride."""
    mid, out = stem["widths"]
    layers = {"0": _conv(model.in_chans, mid, 3, stem["stride"]), "1": norm(mid), "2": torch.nn.ReLU(inplace=True)}
    if stem["residual"]:
        layers.update({"3": _conv(mid, mid, 3), "4": norm(mid), "5": torch.nn.ReLU(inplace=True)})
    layers["6"] = _conv(mid, out, 3)
    model.conv1 = ResidualStem() if stem["residual"] else torch.nn.Sequential()
    for name, layer in layers.items():
        model.conv1.add_module(name, layer)
    model.bn1 = norm(out)
    if not stem["max_pool"]:
        model.maxpool = torch.nn.Identity()


def _resnet_bottlenecks(model: torch.nn.Module, norm: type | partial, stages: list) -> None:
    """Rebuild every bottleneck around its middle width, each stage's first block with the stage's stride (and
    ``downsample`` wherever the shape changes)."""
    channels = model.bn1.num_features
    for index, stage in enumerate(stages, start=1):
        layer = getattr(model, f"layer{index}")
        if len(layer) != len(stage["widths"]):
            raise ValueError(f"layer{index} has {len(layer)} blocks, bottlenecks gives {len(stage['widths'])} widths")
        for position, (block, width) in enumerate(zip(layer, stage["widths"])):
            stride, out = (stage["stride"] if position == 0 else 1), block.conv3.out_channels
            block.conv1, block.bn1 = _conv(channels, width, 1), norm(width)
            block.conv2, block.bn2 = _conv(width, width, 3, stride), norm(width)
            block.conv3 = _conv(width, out, 1)
            shortcut = stride != 1 or channels != out  # timm's rule: a shortcut where the shape changes
            block.downsample = resnet.downsample_avg(channels, out, 1, stride, norm_layer=norm) if shortcut else None
            channels = out


def build_timm_model(config: dict) -> torch.nn.Module:
    """The timm model a ``config.json`` describes, with freshly initialised weights."""
    args = _decode(config["timm_class"], config["model_args"])
    model = getattr(timm.models, config["timm_class"])(**args)
    if config.get("stem_stride") is not None:  # timm's stems have stride 2
        model.conv_stem.stride = (config["stem_stride"], config["stem_stride"])
    for position, layer in enumerate(config.get("blocks") or []):
        if layer is not None:
            model.blocks[layer.get("index", position)] = _transformer_block(model, args, layer)
    norm = args.get("norm_layer") or torch.nn.BatchNorm2d
    if config.get("stem") is not None:
        _resnet_stem(model, norm, config["stem"])
    if config.get("bottlenecks") is not None:
        _resnet_bottlenecks(model, norm, config["bottlenecks"])
    model.pretrained_cfg = dict(config.get("pretrained_cfg") or {})
    return model


def load_timm_model(folder: str | Path) -> torch.nn.Module:
    """The exported model in ``folder`` (``config.json`` + ``model.safetensors``), weights loaded strictly, in eval
    mode."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{folder / 'config.json'} is not a {FORMAT} export (format {config.get('format')!r})")
    model = build_timm_model(config)
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=True)
    return model.eval()


if __name__ == "__main__":
    where = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    net = load_timm_model(where)
    size = net.pretrained_cfg["input_size"]
    with torch.no_grad():
        logits = net(torch.zeros(1, *size))
    params = sum(p.numel() for p in net.parameters())
    print(f"{where}: timm {type(net).__name__}, {params:,} parameters, input {size}, {logits.shape[1]} classes")
