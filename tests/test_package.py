"""Package hygiene: imports flow down by notebook number; the runtime needs no dev tools."""
import ast, json, re, subprocess, sys
from pathlib import Path

from conftest import ROOT

MODULES = {json.loads(Path(nb).read_text())["cells"][0]["source"].split("default_exp")[1].strip(): Path(nb).stem
           for nb in sorted((ROOT/"nbs").glob("[0-9]*.ipynb"))}


def _order(stem):
    m = re.match(r"(\d+)([a-z]?)_", stem)
    return (int(m.group(1)), m.group(2))


def test_imports_flow_down_by_number():
    for module, stem in MODULES.items():
        tree = ast.parse((ROOT/"trainlib"/f"{module}.py").read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module: continue
            if node.level == 1: target = node.module.split(".")[0]        # nbdev exports `from trainlib.x` at the top as `from .x`
            elif node.module.startswith("trainlib."): target = node.module.split(".")[1]
            else: continue
            assert target in MODULES, f"{module} imports unknown trainlib.{target}"
            assert _order(MODULES[target]) < _order(stem), f"{module} ({stem}) imports {target} ({MODULES[target]}): upward edge"


def test_runtime_imports_without_dev_tools():
    code = ("import sys, importlib\n"
            f"for m in {sorted(MODULES)!r}: importlib.import_module('trainlib.' + m)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastcore', 'nbdev', 'execnb'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_every_notebook_module_is_exported():
    for module in MODULES:
        assert (ROOT/"trainlib"/f"{module}.py").is_file(), module


def test_cells_with_imports_hold_only_imports():
    "nbdev's docs build executes every cell containing an import, so such a cell must contain nothing else."
    bad = []
    for nb in sorted((ROOT/"nbs").rglob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] != "code" or "#| export" in src or "nbdev_export()" in src: continue
            try: tree = ast.parse(src)
            except SyntaxError: continue
            nodes = list(ast.walk(tree))
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
                bad.append(f"{nb.relative_to(ROOT)} cell {i}")
    assert not bad, bad
