"""The layer contract in pyproject.toml ([tool.importlinter]) holds: imports only go downward."""

from __future__ import annotations

from pathlib import Path

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _lint(config: Path) -> int:
    return importlinter_cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_layers_import_downward_only():
    assert _lint(PYPROJECT) == 0, "an import goes up a layer; see the contract report above"


def test_a_reversed_contract_is_reported(tmp_path):
    # The check can fail: the engine imports the model layer, so "model above engine" is broken.
    cfg = tmp_path / "reversed.toml"
    cfg.write_text('[tool.importlinter]\nroot_package = "q3embed"\n\n[[tool.importlinter.contracts]]\n'
                   'name = "reversed"\ntype = "layers"\nlayers = ["q3embed.model", "q3embed.engine"]\n')
    assert _lint(cfg) != 0
