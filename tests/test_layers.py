"""The dependency direction of docs/developer/architecture.md: a stage never imports a later one."""

import ast
import re
from pathlib import Path

import hydropimd

#: the stages in dependency order (docs/developer/architecture.md); each may import only those before it
ORDER = ["errors", "native", "config", "files", "lattice", "structures", "data", "pair", "potential", "md",
         "analysis", "training", "dft", "system", "active", "study", "cli"]


def test_no_stage_imports_a_later_one():
    package = Path(hydropimd.__file__).parent
    rank = {stage: k for k, stage in enumerate(ORDER)}
    wrong = []
    for path in package.rglob("*.py"):
        stage = path.relative_to(package).parts[0].removesuffix(".py")
        if stage not in rank:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hydropimd."):
                target = node.module.split(".")[1]
                if rank.get(target, -1) > rank[stage]:
                    wrong.append(f"{path.relative_to(package)} imports {node.module}")
    unlisted = sorted({p.relative_to(package).parts[0].removesuffix(".py") for p in package.glob("*")
                       if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())} - set(ORDER)
                      - {"__init__", "__main__"})
    assert not wrong and not unlisted, (wrong, unlisted)


def _code_strings(path: Path):
    """(line, text) of the string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_only_the_published_data_module_names_lanthanum():
    """Nothing may assume La and H: the published study's own settings live in hydropimd.data.published; the code
    elsewhere gets its elements from the data, the model or the configuration (messages about the published data
    set and its fetch may name it)."""
    package = Path(hydropimd.__file__).parent
    allowed = {Path("data/published.py"), Path("data/location.py"), Path("cli/main.py")}
    lanthanum = re.compile(r"\bLa\b|\bLa_|_La\b|LaH|LaD")
    found = [f"{path.relative_to(package)}:{line}: {text[:60]!r}" for path in sorted(package.rglob("*.py"))
             if path.relative_to(package) not in allowed
             for line, text in _code_strings(path) if lanthanum.search(text)]
    assert not found, found
    # and the allowed ones name the published data set only
    for path in (package / "data/location.py", package / "cli/main.py"):
        assert all("Data-for-fcc-LaH" in text or "published LaH10" in text
                   for _, text in _code_strings(path) if lanthanum.search(text))


def test_hydrogen_is_named_once():
    """Hydrogen and its isotopes are written as literals only where they are defined (hydropimd.structures: HYDROGEN,
    HYDROGEN_SYMBOLS, HYDROGEN_ISOTOPES) and in the published study's own settings; every other module imports them."""
    package = Path(hydropimd.__file__).parent
    allowed = {Path("structures.py"), Path("data/published.py")}
    found = [f"{path.relative_to(package)}:{line}" for path in sorted(package.rglob("*.py"))
             if path.relative_to(package) not in allowed
             for line, text in _code_strings(path) if text in ("H", "D")]
    assert not found, found
