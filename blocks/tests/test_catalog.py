"""Parameter validation against the generated catalog (blocks/catalog.json)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BLOCKS_DIR

from ragomics_runner import errors as E
from ragomics_runner.catalog import catalog_path, load_catalog, validate_parameters


@pytest.fixture(autouse=True)
def repo_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAGOMICS_CATALOG", raising=False)


def test_the_checkout_catalog_is_found_without_the_image_variable() -> None:
    assert catalog_path() == BLOCKS_DIR / "catalog.json"
    assert {"sleep", "pca", "leiden"} <= set(load_catalog())


def test_defaults_are_filled_in() -> None:
    schema = load_catalog()["sleep"]
    assert validate_parameters("sleep", schema, {"seconds": 2}) == {"seconds": 2, "fail": False, "memoryMB": 0}


def test_an_unknown_parameter_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(E.InvalidParameters, match=r"unknown parameter 'sec' for block sleep \(allowed: seconds, fail"):
        validate_parameters("sleep", load_catalog()["sleep"], {"sec": 1})


def test_a_bad_value_names_the_parameter() -> None:
    with pytest.raises(E.InvalidParameters, match=r"parameter 'n_comps' of block pca: 1 is less than the minimum of 2"):
        validate_parameters("pca", load_catalog()["pca"], {"n_comps": 1})
    with pytest.raises(E.InvalidParameters, match=r"parameter 'fail' of block sleep: 'yes' is not of type 'boolean'"):
        validate_parameters("sleep", load_catalog()["sleep"], {"fail": "yes"})


def test_a_missing_required_parameter_is_named() -> None:
    schema = {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]}
    with pytest.raises(E.InvalidParameters, match=r"parameter 'k' of block x: 'k' is a required property"):
        validate_parameters("x", schema, {})
    # The missing one of several, read from the error's data (not its message).
    two = {**schema, "properties": {"j": {"type": "integer"}, "k": {"type": "integer"}}, "required": ["j", "k"]}
    with pytest.raises(E.InvalidParameters, match=r"parameter 'k' of block x"):
        validate_parameters("x", two, {"j": 1})


def test_an_unreadable_catalog_is_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalog.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("RAGOMICS_CATALOG", str(tmp_path / "catalog.json"))
    with pytest.raises(E.BlockCrashed, match="unreadable: KeyError"):
        load_catalog()
