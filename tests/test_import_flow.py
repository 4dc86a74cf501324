"""Data flows one way: ``svae_tts`` <- ``vae`` <- ``data_prep`` <- ``tts_recipes`` <- ``eval``,
and inside a package no two modules import each other, however long the way round.

An arrow means "may import". Every module's syntax tree is walked, so an import hidden inside a
function (the way a cycle hides) counts as much as one at the top.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOW = ("svae_tts", "vae", "data_prep", "tts_recipes", "eval")
RANK = {pkg: i for i, pkg in enumerate(FLOW)}


def imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """``(line, absolute module name, names taken from it)`` of every import in ``tree`` (relative
    ones resolved; the names are empty for ``import x``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((node.lineno, name, tuple(alias.name for alias in node.names)))
    return found


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every module of the flow's packages (``pkg/__init__.py`` is ``pkg.__init__``)."""
    return {".".join(path.relative_to(root).with_suffix("").parts): path
            for pkg in FLOW for path in sorted((root / pkg).rglob("*.py"))}


def imports_of(path: Path, module: str) -> list[tuple[int, str, tuple[str, ...]]]:
    return imported_modules(ast.parse(path.read_text(encoding="utf-8")), module)


def flow_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for module, path in modules(root).items():
        pkg = module.split(".")[0]
        for line, name, _ in imports_of(path, module):
            top = name.split(".")[0]
            if top in RANK and RANK[top] > RANK[pkg]:
                bad.append(f"{path.relative_to(root)}:{line}: {pkg} imports {name}")
    return bad


def package_import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of its own package it imports. ``from pkg import name`` imports the
    submodule ``pkg.name`` when there is one, else ``pkg``; a package is its ``__init__``."""
    known = modules(root)

    def target(name: str) -> str | None:
        return next((m for m in (name, f"{name}.__init__") if m in known), None)

    graph = {}
    for module, path in known.items():
        pkg = module.split(".")[0]
        found = set()
        for _, name, names in imports_of(path, module):
            found |= {target(f"{name}.{n}") or target(name) for n in names} if names else {target(name)}
        graph[module] = {m for m in found if m and m != module and m.split(".")[0] == pkg}
    return graph


def import_cycles(root: Path = ROOT) -> list[str]:
    """One cycle per group of modules that import each other round, as ``a -> b -> a`` (the
    shortest way round from the group's first module), sorted."""
    graph = package_import_graph(root)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reachable = {m: reach(m) for m in graph}
    cycles, done = [], set()
    for module in sorted(graph):
        group = {m for m in reachable[module] if module in reachable[m]}
        if module in done or not group:
            continue
        done |= group
        paths = {module: [module]}
        todo = [module]
        while module not in graph[todo[0]]:  # breadth first inside the group, back to where it started
            current = todo.pop(0)
            for nxt in sorted(graph[current] & group):
                if nxt not in paths:
                    paths[nxt] = paths[current] + [nxt]
                    todo.append(nxt)
        cycles.append(" -> ".join(paths[todo[0]] + [module]))
    return cycles


def test_no_import_against_the_flow():
    assert flow_violations() == []


def test_no_import_cycle_inside_a_package():
    assert import_cycles() == []


def test_the_check_sees_function_level_and_relative_imports(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "svae_tts").mkdir()
    (tmp_path / "vae" / "ok.py").write_text("import svae_tts.errors\nfrom vae import model\n")
    (tmp_path / "vae" / "hidden.py").write_text("def f():\n    from data_prep.features import x\n    return x\n")
    (tmp_path / "svae_tts" / "sub").mkdir()
    (tmp_path / "svae_tts" / "sub" / "rel.py").write_text("from ...vae import model\n")
    assert flow_violations(tmp_path) == ["svae_tts/sub/rel.py:1: svae_tts imports vae",
                                         "vae/hidden.py:2: vae imports data_prep.features"]


def test_the_cycle_check_sees_cycles_of_any_length(tmp_path):
    for pkg in ("vae", "eval", "svae_tts"):
        (tmp_path / pkg).mkdir()
    # two modules, one of them through ``from pkg import submodule`` and the other relatively
    (tmp_path / "vae" / "a.py").write_text("from vae import b\n")
    (tmp_path / "vae" / "b.py").write_text("from .a import x\n")
    # three modules, one import hidden in a function
    (tmp_path / "eval" / "c.py").write_text("import eval.d\n")
    (tmp_path / "eval" / "d.py").write_text("def f():\n    from eval import e\n")
    (tmp_path / "eval" / "e.py").write_text("from eval.c import y\nimport vae.a\n")
    # a package's __init__ is a module: importing a name it defines circles back to it, a submodule does not
    (tmp_path / "svae_tts" / "__init__.py").write_text("from svae_tts.f import g\nfrom svae_tts.h import k\n")
    (tmp_path / "svae_tts" / "f.py").write_text("from svae_tts import errors\n")
    (tmp_path / "svae_tts" / "errors.py").write_text("")
    (tmp_path / "svae_tts" / "h.py").write_text("from svae_tts import VERSION\n")
    assert import_cycles(tmp_path) == ["eval.c -> eval.d -> eval.e -> eval.c",
                                       "svae_tts.__init__ -> svae_tts.h -> svae_tts.__init__",
                                       "vae.a -> vae.b -> vae.a"]
