"""The elastic ViT family (AutoFormer spaces): DeiT-Tiny reproduced by its subnet, supernet == extracted timm model
in float32 and float64, strict loads, MACs and parameters against the counters, memory with attention, the timm
export spec, and a short training run on digits."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import pytest
import timm
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.core.config import parse_config
from nas.export.timm_loader import build_timm_model
from nas.supernet.families.vit import ElasticViT, ViTMemory
from nas.supernet.families.vit.static import vit_export, vit_subnet
from nas.supernet.registry import cost_model, create_supernet, part_model
from nas.testing.supernet import randomize_
from nas.training.config import TrainConfig
from nas.training.trainer import Trainer
from predictors.memory import inference_peak_bytes, mcunet_peak_bytes, training_memory
from search_spaces import ConfigError, InvalidArchError, get_space, parse_arch
from search_spaces.autoformer import AutoFormerSpace

SMALL = "autoformer_t_small"


def _worst(first: torch.Tensor, second: torch.Tensor) -> float:
    return (first - second).abs().max().item()


def _meta_macs(model: nn.Module, side: int) -> int:
    model = model.eval().to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, side, side, device="meta"))
    return counter.get_total_flops() // 2


@pytest.fixture(scope="module")
def small() -> ElasticViT:
    supernet = create_supernet(SMALL, num_classes=10)
    return randomize_(supernet, seed=3).eval()


# ---------------------------------------------------------------------- the space
def test_space_labels_gates_and_canonical_ratios() -> None:
    space = get_space("autoformer_t")
    assert isinstance(space, AutoFormerSpace)
    largest, smallest = space.largest(), space.smallest()
    assert largest["embed_dim"] == 240 and largest["depth"] == 14 and "l14_heads" in largest
    assert smallest["depth"] == 12 and "l13_heads" not in smallest
    values = {**smallest.to_dict(), "l1_mlp_ratio": 4}  # an integer ratio is the float choice
    arch = space.validate(values)
    assert arch["l1_mlp_ratio"] == 4.0 and isinstance(arch["l1_mlp_ratio"], float)
    assert json.loads(arch.to_json())["l1_mlp_ratio"] == 4.0
    assert space.count() == 3 * 4**12 * (1 + 4 + 16)  # widths x 12 layers x (depth 12, 13, 14)
    for bad, field in (
        ({"l1_heads": 5}, "l1_heads"),
        ({"embed_dim": 200}, "embed_dim"),
        ({"l1_mlp_ratio": 3}, "l1_mlp_ratio"),
    ):
        with pytest.raises(InvalidArchError) as error:
            space.validate({**smallest.to_dict(), **bad})
        assert error.value.field == field
    with pytest.raises(ConfigError):
        AutoFormerSpace("bad", 32, 4, (100,), (2,), (3,), (4.0,), 32)  # 100 is not divisible by 3 heads


def test_arch_json_file_goes_through_the_parser(tmp_path: Path) -> None:
    space = get_space(SMALL)
    arch = space.sample(random.Random(1))
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    assert parse_arch(str(path), space) == arch
    assert parse_arch(json.dumps(arch.to_dict()), space) == arch


# ---------------------------------------------------------------------- DeiT-Tiny
def test_deit_tiny_is_reproduced_by_the_matching_subnet() -> None:
    deit = randomize_(timm.create_model("deit_tiny_patch16_224", pretrained=False), seed=5).eval()
    supernet = randomize_(create_supernet("autoformer_t", num_classes=1000), seed=6).eval()
    arch = supernet.load_timm_vit(deit.state_dict())
    assert arch["embed_dim"] == 192 and arch["depth"] == 12
    assert supernet.space.layers(arch) == [(3, 4.0)] * 12
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = deit(images)
        assert _worst(supernet(images), expected) <= 1e-6
        subnet = supernet.extract(arch)
        assert _worst(subnet(images), expected) <= 1e-6
    state = deit.state_dict()
    assert subnet.state_dict().keys() == state.keys()
    assert all(torch.equal(subnet.state_dict()[key], state[key]) for key in state)
    assert supernet.params(arch) == sum(p.numel() for p in deit.parameters())
    spec = vit_export(supernet.space, arch, subnet)
    assert spec.blocks is None and spec.model_args["num_heads"] == 3 and spec.model_args["mlp_ratio"] == 4.0


def test_a_timm_vit_outside_the_space_is_refused() -> None:
    supernet = create_supernet(SMALL, num_classes=10)
    wrong_patch = timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=96, depth=6, num_heads=3)
    with pytest.raises(ConfigError):
        supernet.load_timm_vit(wrong_patch.state_dict())
    wrong_width = timm.models.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=64, depth=6, num_heads=2, num_classes=10
    )
    before = {key: value.clone() for key, value in supernet.state_dict().items()}
    with pytest.raises(InvalidArchError):
        supernet.load_timm_vit(wrong_width.state_dict())
    assert all(torch.equal(before[key], value) for key, value in supernet.state_dict().items())


# ---------------------------------------------------------------------- extraction
def test_twenty_random_small_archs_extract_exactly_in_float32_and_float64(small: ElasticViT) -> None:
    space, rng = small.space, random.Random(11)
    archs = [space.sample(rng) for _ in range(20)]
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    double = copy.deepcopy(small).to(torch.float64)  # a copy: the shared fixture stays float32
    with torch.no_grad():
        for index, arch in enumerate(archs):
            small.set_active(arch)
            subnet = small.extract(arch)
            assert _worst(small(images), subnet(images)) <= 1e-6, arch
            double.set_active(arch)
            assert _worst(double(images.double()), double.extract(arch)(images.double())) <= 1e-10, arch
            rebuilt = vit_subnet(space, arch, 10, device="meta" if index else None)  # one initialised for real
            rebuilt.load_state_dict(subnet.state_dict(), strict=True, assign=True)
            assert isinstance(rebuilt, timm.models.VisionTransformer)
            assert rebuilt.arch == arch and rebuilt.space_name == SMALL
            assert torch.equal(rebuilt.eval()(images), subnet(images))
            assert sum(p.numel() for p in subnet.parameters()) == small.params(arch)
            assert _meta_macs(subnet, 32) == small.macs(arch), arch


def test_autoformer_t_archs_at_224_extract_and_count_exactly() -> None:
    supernet = randomize_(create_supernet("autoformer_t", num_classes=10), seed=2).eval()
    space, rng = supernet.space, random.Random(4)
    costs = cost_model(space, 10)
    images = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    for index in range(20):
        arch = space.sample(rng)
        subnet = supernet.extract(arch)
        if index < 2:  # forwards at 224 cost seconds; the counts are on the meta device
            with torch.no_grad():
                assert _worst(supernet(images), subnet(images)) <= 1e-6, arch
        assert sum(p.numel() for p in subnet.parameters()) == costs.params(arch)
        assert _meta_macs(subnet, 224) == costs.macs(arch), arch


def test_qkv_is_sliced_per_q_k_and_v_chunk(small: ElasticViT) -> None:
    arch = small.space.validate({**small.space.largest().to_dict(), "l1_heads": 3})
    state = small.active_state_dict(arch)
    full = small.blocks[0].attn.qkv.weight
    inner, chunk = 3 * small.space.head_dim, full.shape[0] // 3
    expected = torch.cat([full[i * chunk : i * chunk + inner] for i in range(3)])
    assert torch.equal(state["blocks.0.attn.qkv.weight"], expected)


# ---------------------------------------------------------------------- costs
def test_memory_compositions_equal_the_whole_model_estimates(small: ElasticViT) -> None:
    space = small.space
    memory = ViTMemory(space, 10)
    for arch in (space.smallest(), space.largest(), space.sample(random.Random(2))):
        model = vit_subnet(space, arch, 10, device="meta").eval()
        assert memory.inference_peak_bytes(arch) == inference_peak_bytes(model, (1, 3, 32, 32)), arch
        assert memory.inference_peak_bytes(arch, 3) == inference_peak_bytes(model, (3, 3, 32, 32)), arch
        assert memory.mcunet_peak_bytes(arch) == mcunet_peak_bytes(model, (1, 3, 32, 32)), arch
        whole = training_memory(model, (4, 3, 32, 32), "adam")
        assert memory.training(arch, 4, "adam") == whole, arch


def test_memory_includes_the_attention_matrix() -> None:
    space = get_space(SMALL)
    memory, tokens = ViTMemory(space, 10), space.tokens
    base = space.smallest().to_dict()
    three = space.validate({**base, **{f"l{i}_heads": 3 for i in range(1, 7)}})
    four = space.validate({**base, **{f"l{i}_heads": 4 for i in range(1, 7)}})
    # one more head adds its score matrix (and its softmax) of tokens x tokens
    assert memory.inference_peak_bytes(four) - memory.inference_peak_bytes(three) >= 4 * tokens**2
    assert memory.mcunet_peak_bytes(four) - memory.mcunet_peak_bytes(three) >= tokens**2
    # four times the patches: more than four times the peak (the scores grow with tokens squared)
    larger = AutoFormerSpace("larger", 64, 4, space.embed_dims, space.depths, space.num_heads, space.mlp_ratios, 32)
    arch = larger.validate({**three.to_dict(), "resolution": 64, "space": "larger"})
    ratio = ViTMemory(larger, 10).mcunet_peak_bytes(arch) / memory.mcunet_peak_bytes(three)
    assert ratio > (larger.tokens / tokens) * 1.5
    metrics = cost_model(space, 10).metrics()
    assert metrics["peak_memory"](four) == memory.inference_peak_bytes(four)


def test_latency_parts_sum_to_the_macs_and_params(small: ElasticViT) -> None:
    parts = part_model(small.space, 10)
    for arch in (small.space.smallest(), small.space.sample(random.Random(6))):
        modules = [(parts.build(part, "meta"), part) for part in parts.parts(arch)]
        macs = 0
        for module, part in modules:
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                module(torch.empty(part.input_shape(1), device="meta"))
            macs += counter.get_total_flops() // 2
        assert macs == small.macs(arch)
        assert sum(p.numel() for module, _ in modules for p in module.parameters()) == small.params(arch)


# ---------------------------------------------------------------------- timm export
def test_timm_export_spec_rebuilds_with_the_timm_loader(small: ElasticViT) -> None:
    arch = small.space.sample(random.Random(8))
    subnet = small.extract(arch)
    spec = vit_export(small.space, arch, subnet)
    assert spec.timm_class == "VisionTransformer" and spec.blocks is not None
    assert len(spec.blocks) == arch["depth"]
    config = {
        "timm_class": spec.timm_class,
        "model_args": json.loads(json.dumps(dict(spec.model_args))),
        "blocks": [dict(block) for block in spec.blocks],
    }
    model = build_timm_model(json.loads(json.dumps(config)))
    model.load_state_dict(dict(spec.state_dict), strict=True)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert _worst(model.eval()(images), subnet(images)) <= 1e-6


# ---------------------------------------------------------------------- training
def test_small_variant_trains_a_few_steps_on_digits(tmp_path: Path) -> None:
    config = parse_config(
        TrainConfig,
        {
            "supernet": SMALL,
            "batch_size": 16,
            "data": {"limit_train": 32},
            "phases": [{"epochs": 1, "random_subnets": 1}],
            "deterministic": True,
            "threads": 2,
            "calibration_images": 16,
        },
    )
    trainer = Trainer.start(config, "vit", root=tmp_path, progress=False)
    before = {key: value.clone() for key, value in trainer.supernet.state_dict().items()}
    summary = trainer.fit()
    assert summary.steps == 2 and math.isfinite(summary.final_loss)
    after = trainer.supernet.state_dict()
    assert any(not torch.equal(before[key], after[key]) for key in before)
