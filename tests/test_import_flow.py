"""Data flows one way: ``svae_tts`` <- ``vae`` <- ``data_prep`` <- ``tts_recipes`` <- ``eval``.

An arrow means "may import". Every module's syntax tree is walked, so an import hidden inside a
function (the way a cycle hides) counts as much as one at the top.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW = ("svae_tts", "vae", "data_prep", "tts_recipes", "eval")
RANK = {pkg: i for i, pkg in enumerate(FLOW)}


def imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``tree`` (relative ones resolved)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((node.lineno, name))
    return found


def flow_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for pkg in FLOW:
        for path in sorted((root / pkg).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for line, name in imported_modules(ast.parse(path.read_text(encoding="utf-8")), module):
                top = name.split(".")[0]
                if top in RANK and RANK[top] > RANK[pkg]:
                    bad.append(f"{path.relative_to(root)}:{line}: {pkg} imports {name}")
    return bad


def test_no_import_against_the_flow():
    assert flow_violations() == []


def test_the_check_sees_function_level_and_relative_imports(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "svae_tts").mkdir()
    (tmp_path / "vae" / "ok.py").write_text("import svae_tts.errors\nfrom vae import model\n")
    (tmp_path / "vae" / "hidden.py").write_text("def f():\n    from data_prep.features import x\n    return x\n")
    (tmp_path / "svae_tts" / "sub").mkdir()
    (tmp_path / "svae_tts" / "sub" / "rel.py").write_text("from ...vae import model\n")
    assert flow_violations(tmp_path) == ["svae_tts/sub/rel.py:1: svae_tts imports vae",
                                         "vae/hidden.py:2: vae imports data_prep.features"]
