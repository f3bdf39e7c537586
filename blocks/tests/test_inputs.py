"""Multi-input nodes: job.json `inputs`, the lazy `adatas` mapping, adata/adatas mismatches, sample kwargs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ragomics_runner import errors as E
from ragomics_runner.anndata_io import LazyInputs, open_inputs
from ragomics_runner.execution import call_block, input_argument, sample_kwargs
from ragomics_runner.job import load_job
from ragomics_runner.loading import LoadedBlock, load_inline
from ragomics_runner.paths import Workspace
from ragomics_runner.runner import io_facts


def write_job(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"nodeId": "n", "block": {"name": "sleep"}, **extra}))
    return path


def make_inputs(ws: Workspace, keys: list[str]) -> list[dict[str, Any]]:
    ws.inputs_dir.mkdir(exist_ok=True)
    for key in keys:
        ws.input_of(key).write_text(f"data of {key}")
    return [{"key": k, "path": f"/host/{k}.h5ad"} for k in keys]


class CountingReader:
    """Stands in for anndata.read_h5ad: returns the file's text and records every read."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str | None]] = []

    def __call__(self, path: Path, backed: str | None) -> str:
        self.reads.append((path.stem, backed))
        return path.read_text()


# --- job.json ---------------------------------------------------------------------------------


def test_inputs_and_sample_are_read_from_job_json(tmp_path: Path) -> None:
    sample = {"sample": "s1", "columns": {"condition": "treated"}}
    job = load_job(write_job(tmp_path, inputs=[{"key": "s1", "path": "/a.h5ad", "sample": sample}], sample=sample))
    assert job["inputs"] == [{"key": "s1", "path": "/a.h5ad", "sample": sample}]
    assert job["sample"] == sample


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"key": "a"}, r"job.inputs must be a non-empty list"),
        ([], r"job.inputs must be a non-empty list"),
        ([{"key": "a/b", "path": "/x.h5ad"}], r"job.inputs\[0\].key must be"),
        ([{"key": "..", "path": "/x.h5ad"}], r"job.inputs\[0\].key must be"),
        ([{"key": "a", "path": "/x.h5ad"}, {"key": "a", "path": "/y.h5ad"}], r"job.inputs\[1\].key 'a' appears twice"),
        ([{"key": "a", "path": ""}], r"job.inputs\[0\].path must be"),
        ([{"key": "a", "path": "/x", "sample": {"sample": "a", "columns": {"c": 1}}}], r"inputs\[0\].sample.columns"),
    ],
)
def test_malformed_inputs_name_the_entry_and_field(tmp_path: Path, inputs: object, message: str) -> None:
    with pytest.raises(E.InvalidParameters, match=message):
        load_job(write_job(tmp_path, inputs=inputs))


# --- the lazy mapping -------------------------------------------------------------------------


def test_the_mapping_keeps_input_order_and_reads_only_what_is_accessed(ws: Workspace) -> None:
    keys = ["s3", "s1", "s2"]
    make_inputs(ws, keys)
    reader = CountingReader()
    inputs = LazyInputs({k: ws.input_of(k) for k in keys}, reader=reader)
    assert list(inputs) == keys and len(inputs) == 3 and "s1" in inputs
    assert reader.reads == []  # iterating, len and `in` read nothing
    assert inputs["s1"] == "data of s1"
    assert reader.reads == [("s1", None)]
    assert inputs["s1"] == "data of s1"  # kept: not read twice
    assert reader.reads == [("s1", None)]
    assert inputs.loaded() == ["s1"]
    inputs.release("s1")
    assert inputs.loaded() == []
    assert [inputs[k] for k in inputs] == [f"data of {k}" for k in keys]
    assert [r[0] for r in reader.reads] == ["s1", "s3", "s1", "s2"]


def test_the_mapping_is_read_only_and_unknown_keys_are_key_errors(ws: Workspace) -> None:
    make_inputs(ws, ["a"])
    inputs = LazyInputs({"a": ws.input_of("a")}, reader=CountingReader())
    with pytest.raises(TypeError):
        inputs["b"] = "x"  # type: ignore[index]
    with pytest.raises(KeyError):
        inputs["b"]


def test_backed_is_passed_to_every_read(ws: Workspace) -> None:
    make_inputs(ws, ["a", "b"])
    reader = CountingReader()
    inputs = LazyInputs({k: ws.input_of(k) for k in "ab"}, backed="r", reader=reader)
    _ = inputs["b"], inputs["a"]
    assert reader.reads == [("b", "r"), ("a", "r")]


def test_an_unreadable_input_is_input_missing_naming_its_key(ws: Workspace) -> None:
    make_inputs(ws, ["bad"])

    def reader(path: Path, backed: str | None) -> Any:
        raise OSError("truncated file")

    with pytest.raises(E.InputMissing, match=r"input 'bad' \(.*bad.h5ad\) is unreadable: OSError: truncated file"):
        LazyInputs({"bad": ws.input_of("bad")}, reader=reader)["bad"]


def test_open_inputs_checks_every_file_before_reading_any(ws: Workspace) -> None:
    entries = make_inputs(ws, ["a"]) + [{"key": "gone", "path": "/host/gone.h5ad"}]
    missing = r"input 'gone' \(.*inputs/gone.h5ad, from /host/gone.h5ad\) does not exist"
    with pytest.raises(E.InputMissing, match=missing):
        open_inputs(ws, entries)
    assert list(open_inputs(ws, entries[:1])) == ["a"]


def test_io_facts_are_per_input_with_their_inodes(ws: Workspace) -> None:
    entries = make_inputs(ws, ["b", "a"])
    io = io_facts(ws, entries)
    assert io["input"] is None
    assert [e["key"] for e in io["inputs"]] == ["b", "a"]
    assert io["inputs"][0]["facts"]["inode"] == ws.input_of("b").stat().st_ino
    assert io["inputs"][1]["facts"]["bytes"] == len("data of a")
    assert "inputs" not in io_facts(ws, None)


# --- adata or adatas ---------------------------------------------------------------------------


def block(run: Any, label: str = "b") -> LoadedBlock:
    return LoadedBlock(label, run, {}, False)


def one(adata: Any = None, **p: Any) -> Any:
    return adata


def many(adatas: Any = None, **p: Any) -> Any:
    return adatas


def either(adata: Any = None, adatas: Any = None) -> Any:
    return adata, adatas


def only_kwargs(**p: Any) -> Any:
    return p


def test_a_one_input_block_on_a_multi_input_node_is_a_typed_mismatch() -> None:
    message = r"block pca of node n takes one input .* the node has 3 inputs"
    with pytest.raises(E.InputCountMismatch, match=message) as info:
        input_argument(block(one, "pca"), multi=True, count=3, node=" of node n")
    assert info.value.code == E.EXIT_INPUT_COUNT_MISMATCH == 67
    assert "\n" not in info.value.message


@pytest.mark.parametrize(("count", "noun"), [(1, "1 input;"), (0, "0 inputs;")])
def test_a_many_input_block_on_a_single_input_node_is_a_typed_mismatch(count: int, noun: str) -> None:
    with pytest.raises(E.InputCountMismatch, match=rf"block concat takes several inputs .* the node has {noun}"):
        input_argument(block(many, "concat"), multi=False, count=count)


@pytest.mark.parametrize(
    ("run", "multi", "expected"),
    [(one, False, "adata"), (many, True, "adatas"), (either, True, "adatas"), (either, False, "adata"),
     (only_kwargs, True, "adatas"), (only_kwargs, False, "adata"), (len, True, "adatas")],
)  # fmt: skip
def test_blocks_that_fit_get_the_argument_of_the_node(run: Any, multi: bool, expected: str) -> None:
    assert input_argument(block(run), multi=multi, count=1) == expected


def test_a_gather_of_one_sample_is_still_multi_input() -> None:
    assert input_argument(block(many), multi=True, count=1) == "adatas"


# --- sample= and samples= ---------------------------------------------------------------------

JOB = {
    "inputs": [
        {"key": "s1", "path": "/1", "sample": {"sample": "s1", "columns": {"condition": "ctrl", "batch": "b1"}}},
        {"key": "x", "path": "/2"},
    ],
    "sample": {"sample": "s9", "columns": {"condition": "treated", "sample": "not the id"}},
}


def test_samples_and_sample_are_passed_only_when_declared() -> None:
    def declares(adatas: Any = None, samples: Any = None, sample: Any = None) -> None: ...

    kwargs = sample_kwargs(block(declares), JOB)
    assert kwargs["samples"] == {"s1": {"sample": "s1", "condition": "ctrl", "batch": "b1"}}
    assert kwargs["sample"] == {"sample": "s9", "condition": "treated"}  # the id wins over a column named sample
    assert sample_kwargs(block(many), JOB) == {}
    assert sample_kwargs(block(only_kwargs), JOB) == {}  # **kwargs is not a declaration


def test_samples_are_not_passed_to_a_node_without_inputs() -> None:
    def declares(adata: Any = None, samples: Any = None) -> None: ...

    assert sample_kwargs(block(declares), {"sample": None}) == {}


def test_call_block_passes_the_input_arguments_and_parameters(ws: Workspace) -> None:
    make_inputs(ws, ["b", "a"])
    inputs = LazyInputs({k: ws.input_of(k) for k in "ba"}, reader=CountingReader())

    def run(adatas: Any = None, samples: Any = None, k: int = 0) -> Any:
        return list(adatas), samples, k

    loaded = LoadedBlock("b", run, {"k": 2}, False)
    assert call_block(loaded, None, {"adatas": inputs, "samples": {}}) == (["b", "a"], {}, 2)


def test_inline_adatas_code_loads_and_may_ask_for_backed_inputs(ws: Workspace) -> None:
    code = "ADATAS_BACKED = 'r'\ndef run(adatas=None, samples=None, **p):\n    return None\n"
    loaded = load_inline({"code": code, "parameters": {"n": 1}}, ws)
    assert loaded.backed == "r" and loaded.arguments == frozenset({"adatas", "samples"})
    with pytest.raises(E.InvalidBlockCode, match="ADATAS_BACKED must be None or 'r'"):
        load_inline({"code": "ADATAS_BACKED = 'w'\ndef run(adatas=None): pass\n"}, ws)
    with pytest.raises(E.InvalidBlockCode, match="'adatas' for several inputs"):
        load_inline({"code": "def run(x=None): pass\n"}, ws)
