"""The import contracts in pyproject.toml ([tool.importlinter]) hold: imports only go downward, no package
imports a test helper (model.tiny's random test checkpoints), the server imports no engine, stores or
training, stores import no engine, and integrations import nothing of q3embed. Each contract can fail."""

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


def _contracts(kind: str) -> list[dict]:
    import tomllib

    return [c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"] if c["type"] == kind]


FORBIDDEN_BY_DESIGN = {  # source package -> packages the design says it never imports
    "q3embed.server": {"q3embed.engine", "q3embed.stores", "q3embed.train"},
    "q3embed.stores": {"q3embed.engine"},
}


def test_the_design_contracts_are_stated():
    forbidden = {tuple(c["source_modules"]): set(c["forbidden_modules"]) for c in _contracts("forbidden")}
    for source, must in FORBIDDEN_BY_DESIGN.items():
        assert must <= forbidden.get((source,), set()), f"{source} may import {must - forbidden.get((source,), set())}"
    # integrations: every other top-level package of q3embed, so a new package cannot slip past the contract
    src = Path(__file__).resolve().parents[1] / "src" / "q3embed"
    packages = {f"q3embed.{p.stem}" for p in src.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert packages - {"q3embed.integrations"} <= forbidden[("q3embed.integrations",)]


@pytest.mark.parametrize("importer, imported", [
    ("q3embed.server.routes", "q3embed.engine.embedder"),     # the server loading a model itself
    ("q3embed.server.app", "q3embed.stores.local_index"),
    ("q3embed.stores.local_index", "q3embed.engine.embedder"),  # a store loading its own embedder
    ("q3embed.integrations.langchain", "q3embed.engine"),
    ("q3embed.integrations.llama_index", "q3embed.errors"),
])
def test_one_forbidden_import_breaks_its_contract(importer, imported):
    """The real contracts hold on the real import graph, and one added import of the kind they forbid
    breaks the contract whose source it comes from."""
    import grimp
    from importlinter.contracts.forbidden import ForbiddenContract

    (options,) = [c for c in _contracts("forbidden") if importer.startswith(tuple(c["source_modules"]))]
    contract = ForbiddenContract(options["name"], {"root_packages": ["q3embed"]},
                                 {k: v for k, v in options.items() if k not in ("name", "type")})
    graph = grimp.build_graph("q3embed", cache_dir=None)
    assert contract.check(graph, verbose=False).kept
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert not contract.check(graph, verbose=False).kept
