"""The import contracts in pyproject.toml ([tool.importlinter]) hold: imports only go downward, and
no package imports a test helper (model.tiny's random test checkpoints)."""

from __future__ import annotations

from pathlib import Path

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _lint(config: Path) -> int:
    return importlinter_cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_layers_import_downward_only():
    assert _lint(PYPROJECT) == 0, "an import goes up a layer or reaches a test helper; see the contract report above"


def test_a_reversed_contract_is_reported(tmp_path):
    # The check can fail: the engine imports the model layer, so "model above engine" is broken.
    cfg = tmp_path / "reversed.toml"
    cfg.write_text('[tool.importlinter]\nroot_package = "q3embed"\n\n[[tool.importlinter.contracts]]\n'
                   'name = "reversed"\ntype = "layers"\nlayers = ["q3embed.model", "q3embed.engine"]\n')
    assert _lint(cfg) != 0


def test_the_test_helper_contract_covers_the_package_and_can_fail(tmp_path):
    # The contract forbids model.tiny to every module of q3embed except the 'tiny' verb; the check
    # can fail: without that one allowed import, the verb's real import of model.tiny is reported.
    import tomllib

    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (tiny,) = [c for c in contracts if "q3embed.model.tiny" in c.get("forbidden_modules", [])]
    assert tiny["type"] == "forbidden" and tiny["source_modules"] == ["q3embed.*"]
    # only the verb (and the VL builder, which reuses the text one's file list) may import the builders
    assert "q3embed.cli.tiny -> q3embed.model.tiny" in tiny["ignore_imports"]
    assert all(i.startswith(("q3embed.cli.tiny -> ", "q3embed.model.tiny_vl -> ")) for i in tiny["ignore_imports"])
    modules = ", ".join(f'"{m}"' for m in tiny["forbidden_modules"])
    cfg = tmp_path / "no_exception.toml"
    cfg.write_text('[tool.importlinter]\nroot_package = "q3embed"\n\n[[tool.importlinter.contracts]]\n'
                   f'name = "tiny"\ntype = "forbidden"\nsource_modules = ["q3embed.*"]\nforbidden_modules = [{modules}]\n')
    assert _lint(cfg) != 0
