"""The dependency direction of the README's "Architecture": a stage never imports a later one."""

import ast
from pathlib import Path

import hydropimd

#: the stages in dependency order (README, "Architecture"); each may import only those before it
ORDER = ["errors", "config", "files", "native", "lattice", "structures", "system", "data", "pair", "potential", "md",
         "analysis", "training", "dft", "active", "study", "cli"]


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
