"""Bad-input corpus: architecture JSON (labels form), as ``Arch.from_json``, the CLI's ``parse_arch`` and a file read.

Every case must fail with the platform's own error (``InvalidArchError`` or ``UnknownNameError``) whose message
names the field or the problem, never with a deep traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from search_spaces import InvalidArchError, NasError, UnknownNameError, get_space
from search_spaces.parsing import arch_from_json, parse_arch
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas

SPACE = get_space("ofa_mbv3")
LARGEST = SPACE.largest().to_dict()


def labels(**changes: object) -> str:
    values: dict[str, object] = {"space": "ofa_mbv3", **LARGEST}
    values.update(changes)
    return json.dumps(values)


def without(label: str) -> str:
    values = {"space": "ofa_mbv3", **LARGEST}
    del values[label]
    return json.dumps(values)


CASES = [
    # malformed
    ("unclosed_object", '{"space": "ofa_mbv3", ', InvalidArchError, ["not valid JSON"]),
    ("empty_text", "", InvalidArchError, ["not valid JSON"]),
    ("trailing_garbage", labels() + " xyz", InvalidArchError, ["not valid JSON", "Extra data"]),
    ("single_quotes", "{'space': 'ofa_mbv3'}", InvalidArchError, ["not valid JSON"]),
    ("python_literal", "{'resolution': 224,}", InvalidArchError, ["not valid JSON"]),
    # truncated
    ("cut_in_half", labels()[: len(labels()) // 2], InvalidArchError, ["not valid JSON"]),
    ("missing_label", without("s2_b4_expand"), InvalidArchError, ["missing field 's2_b4_expand'"]),
    ("missing_resolution", without("resolution"), InvalidArchError, ["missing field 'resolution'"]),
    ("only_space", '{"space": "ofa_mbv3"}', InvalidArchError, ["missing field 'resolution'"]),
    # wrong type
    ("a_list", "[1, 2, 3]", InvalidArchError, ["must be a JSON object"]),
    ("a_number", "42", InvalidArchError, ["must be a JSON object"]),
    ("a_string", '"ofa_mbv3"', InvalidArchError, ["must be a JSON object"]),
    ("null", "null", InvalidArchError, ["must be a JSON object"]),
    ("resolution_string", labels(resolution="224"), InvalidArchError, ["resolution='224' has type str"]),
    ("depth_list", labels(s1_depth=[4]), InvalidArchError, ["s1_depth=[4] has type list"]),
    ("kernel_bool", labels(s1_b1_kernel=True), InvalidArchError, ["s1_b1_kernel=True has type bool"]),
    ("kernel_object", labels(s1_b1_kernel={"k": 3}), InvalidArchError, ["s1_b1_kernel={'k': 3} has type dict"]),
    ("expand_fraction", labels(s1_b1_expand=3.5), InvalidArchError, ["s1_b1_expand=3.5 has type float"]),
    # out of range
    ("kernel_4", labels(s3_b2_kernel=4), InvalidArchError, ["s3_b2_kernel=4 not in {3, 5, 7}"]),
    ("resolution_130", labels(resolution=130), InvalidArchError, ["resolution=130 not in {128, 132, ..., 224}"]),
    ("resolution_negative", labels(resolution=-224), InvalidArchError, ["resolution=-224 not in"]),
    ("depth_5", labels(s4_depth=5), InvalidArchError, ["s4_depth=5 not in {2, 3, 4}"]),
    ("depth_0", labels(s4_depth=0), InvalidArchError, ["s4_depth=0 not in {2, 3, 4}"]),
    ("resolution_nan", labels(resolution=float("nan")), InvalidArchError, ["resolution=nan has type float"]),
    ("resolution_infinity", labels(resolution=float("inf")), InvalidArchError, ["resolution=inf has type float"]),
    ("resolution_1e400", labels().replace('"resolution": 224', '"resolution": 1e400'), InvalidArchError, ["inf"]),
    ("resolution_huge_int", labels(resolution=10**300), InvalidArchError, ["resolution=1000", "not in"]),
    # hostile
    ("nested_100k_arrays", "[" * 100_000 + "]" * 100_000, InvalidArchError, ["nested too deeply"]),
    ("nested_50k_objects", '{"a":' * 50_000 + "1" + "}" * 50_000, InvalidArchError, ["nested too deeply"]),
    ("integer_5000_digits", '{"resolution": ' + "9" * 5000 + "}", InvalidArchError, ["4300 digits"]),
    ("megabyte_string", labels(resolution="x" * 1_000_000), InvalidArchError, ["has type str"]),
    ("path_traversal_space", labels(space="../../etc/passwd"), InvalidArchError, ["space='../../etc/passwd' does"]),
    ("dunder_field", labels(__class__="os.system"), InvalidArchError, ["unknown field '__class__'"]),
    ("nul_in_field", labels(**{"s1\u0000depth": 2}), InvalidArchError, ["unknown field 's1\\x00depth'"]),
    ("space_list", labels(space=["ofa_mbv3"]), InvalidArchError, ["space=['ofa_mbv3'] does not match"]),
    ("megabyte_space", labels(space="s" * 1_000_000), InvalidArchError, ["does not match"]),
    ("other_space", labels(space="nb201"), InvalidArchError, ["does not match the expected space 'ofa_mbv3'"]),
    ("duplicate_space_key", '{"space": "ofa_mbv3", "space": "nb201"}', InvalidArchError, ["does not match"]),
]


@pytest.mark.parametrize(("text", "kind", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_arch_json_is_refused_with_a_typed_error(text: str, kind: type[NasError], fragments: list[str]) -> None:
    with pytest.raises(NasError) as caught:
        arch_from_json(text, space="ofa_mbv3")
    check_error(caught.value, kind, *fragments)


@pytest.mark.parametrize(("text", "kind", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_arch_argument_is_refused_with_a_typed_error(
    text: str, kind: type[NasError], fragments: list[str], tmp_path: Path
) -> None:
    """The same text given on the command line (inline, or as a file when it does not look like JSON)."""
    argument = text
    if not text.strip().startswith(("{", "[")):
        argument = str(tmp_path / "arch.json")
        Path(argument).write_text(text)
    with pytest.raises(NasError) as caught:
        parse_arch(argument, SPACE)
    assert isinstance(caught.value, (InvalidArchError, UnknownNameError)), caught.value
    assert len(str(caught.value)) <= 600


def test_a_space_name_that_is_not_registered_lists_the_registered_ones() -> None:
    with pytest.raises(NasError) as caught:
        arch_from_json(labels(space="../../etc/passwd"))
    check_error(caught.value, UnknownNameError, "'../../etc/passwd'", "ofa_mbv3", "nb201")


def test_unreadable_arch_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NasError) as caught:
        parse_arch(str(binary), SPACE)
    check_error(caught.value, InvalidArchError, "binary.json")
    with pytest.raises(NasError) as caught:
        parse_arch(str(tmp_path), SPACE)  # a folder
    check_error(caught.value, InvalidArchError, "neither 'smallest', 'largest', a JSON file nor inline JSON")
    with pytest.raises(NasError) as caught:
        parse_arch("../../../../etc/no_such_arch.json", SPACE)
    check_error(caught.value, InvalidArchError, "no_such_arch.json")


def test_cli_refuses_hostile_arch_json_without_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = run_nas(["arch", "show", str(deep), "--space", "ofa_mbv3"], tmp_path)
    check_cli_refusal(result, "nested too deeply")
