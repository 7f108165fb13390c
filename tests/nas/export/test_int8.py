"""``nas export --format onnx-int8``: ONNX Runtime static quantization calibrated on training images, parity
relative to the largest logit, and the accuracy change against float32 on the card."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from nas.data import DataSplits, load_dataset
from nas.export import export_subnet
from nas.export.formats import FORMATS, onnx_session
from nas.export.int8 import INT8_FILE, INT8_RELATIVE_TOLERANCE
from tests.nas.export.test_timm_format import FAST, supernet_file


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


@pytest.mark.slow
def test_int8_export_is_quantized_within_its_tolerance_and_records_the_accuracy_change(
    tmp_path: Path, digits: DataSplits
) -> None:
    out = tmp_path / "pick"
    card = export_subnet(supernet_file(tmp_path, "ofa_mbv3_small"), "largest", out, ["onnx-int8"], digits, **FAST)
    assert "int8 test accuracy" in (out / "card.md").read_text()
    assert 0 < card["parity"]["max_abs_diff"]["onnx-int8"] <= INT8_RELATIVE_TOLERANCE  # quantized, not a copy
    details = card["formats"]["onnx-int8"]["details"]
    assert details["calibration_images"] == FAST["calibration_images"] and details["test_images"] == len(
        digits.test.labels
    )
    assert details["accuracy_float32"] == pytest.approx(card["accuracy"]["accuracy"])
    assert details["accuracy_change"] == pytest.approx(details["accuracy_int8"] - details["accuracy_float32"])
    graph = onnx.load(str(out / INT8_FILE)).graph
    operators = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 10  # every convolution's weights
    session = onnx_session(out / INT8_FILE, threads=1)  # a fresh session of the file alone
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["logits"]
    assert "onnx-int8" in FORMATS and [f["name"] for f in card["formats"]["onnx-int8"]["files"]] == [INT8_FILE]
