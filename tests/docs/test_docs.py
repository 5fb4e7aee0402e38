"""The documentation stays true: it builds without a warning, its quick commands run and print what it shows,
every command line in it parses with the real parser, and its reference covers every module and settings model.

Markers in the Markdown (a MyST comment line before a fenced block)::

    % doc-test: run                  run the next block (bash, in one temporary folder per page, blocks in order)
    % doc-test: run needs=data       ... when the published data are found (needs=gle4md: the GLE4MD library)
    % doc-test: skip REASON          do not run it, and say why
    % doc-test: output               the next text block: lines (whitespace aside) the previous run block prints

Every shell block of the tutorials and the getting-started page carries a marker, so a new command is either run
here or skipped on purpose.  The Sphinx build needs the ``docs`` extra: skipped with the reason without it, failed
under CI (CI=true), like the tests that need the published data.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: pages whose every shell block must say whether it is run
MARKED = [DOCS / "getting-started.md", *sorted((DOCS / "tutorials").glob("*.md"))]
SHELL = {"bash", "console", "sh", "shell"}
DOCS_PACKAGES = ("sphinx", "myst_parser", "sphinxarg", "sphinxcontrib.autodoc_pydantic", "sphinxcontrib.bibtex", "furo")
#: resources a run block may need, and the conftest fixture that provides each (skipped, or failed under CI)
NEEDS = {"data": "published", "gle4md": "gle_library"}
MARKER = re.compile(r"^%\s*doc-test:\s*(run|skip|output)\b(.*)$")


@dataclass
class Block:
    page: Path
    line: int
    language: str
    text: str
    action: str | None = None       # run, skip, output, or None (no marker)
    argument: str = ""
    needs: list[str] = field(default_factory=list)


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page with the doc-test marker before each (MyST directives skipped)."""
    found, marker, lines = [], None, page.read_text().splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        m = MARKER.match(line.strip())
        if m:
            marker = (m.group(1), m.group(2).strip())
        elif line.startswith("```"):
            info = line[3:].strip()
            end = next(j for j in range(k + 1, len(lines)) if lines[j].strip() == "```")
            if not info.startswith("{"):
                block = Block(page, k + 1, info.split()[0] if info else "", "\n".join(lines[k + 1:end]) + "\n")
                if marker:
                    block.action, block.argument = marker
                    if block.action == "run":
                        needs = dict(p.split("=", 1) for p in block.argument.split() if "=" in p).get("needs", "")
                        block.needs = [n for n in needs.split(",") if n]
                found.append(block)
            marker = None
            k = end
        elif line.strip():
            marker = None  # a marker belongs to the block right after it
        k += 1
    return found


def all_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def docs_extra_missing() -> list[str]:
    return [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]


# ---------------------------------------------------------------- the site builds, warnings as errors
def test_the_site_builds_without_warnings(tmp_path):
    missing = docs_extra_missing()
    if missing:
        message = f"the docs extra is not installed (missing {', '.join(missing)}): pip install -e '.[docs]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                             "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                            capture_output=True, text=True, cwd=REPO, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-6000:]
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "reference" / "cli.html").is_file()


# ---------------------------------------------------------------- the tutorials' commands
def test_every_shell_block_of_the_tutorials_is_marked():
    unmarked = [f"{b.page.relative_to(REPO)}:{b.line}" for page in MARKED for b in blocks(page)
                if b.language in SHELL and b.action not in ("run", "skip")]
    unexplained = [f"{b.page.relative_to(REPO)}:{b.line}" for page in MARKED for b in blocks(page)
                   if b.action == "skip" and not b.argument]
    assert not unmarked, f"shell blocks without '% doc-test: run' or '% doc-test: skip REASON': {unmarked}"
    assert not unexplained, f"skipped blocks without a reason: {unexplained}"


def _pages_with_runs() -> list[Path]:
    return [page for page in all_pages() if any(b.action == "run" for b in blocks(page))]


def _normalised(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("page", _pages_with_runs(), ids=lambda p: str(p.relative_to(DOCS)))
def test_the_quick_commands_run_and_print_what_the_page_shows(page, tmp_path, request):
    found = blocks(page)
    for name in sorted({n for b in found if b.action == "run" for n in b.needs}):
        assert name in NEEDS, f"{page.name}: unknown needs={name} (known: {', '.join(NEEDS)})"
        request.getfixturevalue(NEEDS[name])  # sets the data-location variable, or skips (fails under CI)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "hydropimd").exists(), f"no hydropimd command beside {sys.executable}"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    last = None
    for block in found:
        where = f"{page.relative_to(REPO)}:{block.line}"
        if block.action == "run":
            result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, \
                f"{where} failed:\n{block.text}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            last = result.stdout
        elif block.action == "output":
            assert last is not None, f"{where}: an output block with no run block before it"
            printed = _normalised(last)
            missing = [line for line in _normalised(block.text) if not any(line in p for p in printed)]
            assert not missing, f"{where}: the command did not print {missing}; it printed:\n{last}"


# ---------------------------------------------------------------- every command line parses
def _command_lines(text: str) -> list[str]:
    """The ``hydropimd ...`` command lines of a code block, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("hydropimd ")]


def test_every_command_line_in_the_docs_parses():
    from hydropimd.cli.main import build_parser

    sources = [(page, b.text) for page in all_pages() for b in blocks(page) if b.language in SHELL]
    readme = (REPO / "README.md").read_text()
    sources += [(REPO / "README.md", m)
                for m in re.findall(r"```(?:bash|console|sh|shell)\n(.*?)```", readme, flags=re.S)]
    checked, wrong = 0, []
    for page, text in sources:
        for line in _command_lines(text):
            line = re.sub(r"\$\([^)]*\)", "X", line)  # a command substitution stands for one word
            argv = shlex.split(line, comments=True)[1:]
            try:
                build_parser().parse_args(argv)
            except SystemExit as exit_:
                if exit_.code not in (0, None):  # --help and --version exit 0
                    wrong.append(f"{page.relative_to(REPO)}: {line}")
            checked += 1
    assert checked > 50, checked
    assert not wrong, "command lines the parser refuses:\n" + "\n".join(wrong)


# ---------------------------------------------------------------- the reference covers the code
def _modules() -> list[str]:
    import hydropimd

    return [m.name for m in pkgutil.walk_packages(hydropimd.__path__, "hydropimd.") if not m.name.endswith("__main__")]


def test_the_api_reference_lists_every_module():
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").rglob("*.md")))
    documented = set(re.findall(r"\.\. automodule:: (\S+)", text))
    missing = sorted(set(_modules()) - documented)
    assert not missing, f"modules missing from docs/reference/api/*.md (add an automodule block): {missing}"


def test_the_configuration_reference_lists_every_settings_model():
    from pydantic import BaseModel

    from hydropimd.config import Settings

    models = set()
    for name in _modules():
        module = importlib.import_module(name)
        for attribute, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Settings) and obj is not Settings
                    and obj.__module__ == name and issubclass(obj, BaseModel)):
                models.add(f"{name}.{attribute}")
    text = (DOCS / "reference" / "config.md").read_text()
    documented = set(re.findall(r"\.\. autopydantic_model:: (\S+)", text))
    missing = sorted(models - documented)
    assert len(models) > 15, models
    assert not missing, f"settings models missing from docs/reference/config.md: {missing}"
    for dataclass_settings in ("hydropimd.dft.settings.DFTSettings", "hydropimd.active.soap.SOAPSettings"):
        assert f".. autoclass:: {dataclass_settings}" in text


def test_no_page_sends_users_to_a_file_they_do_not_have():
    """SPEC.md is the developers' specification beside the checkout; what users need of it is in the theory pages."""
    pages = [REPO / "README.md", *all_pages()]
    found = [f"{p.relative_to(REPO)}:{k}" for p in pages for k, line in enumerate(p.read_text().splitlines(), 1)
             if "SPEC" in line or ("../shared" in line and p.name == "README.md")]
    assert not found, found


def test_the_readme_links_lead_to_files_of_the_repository():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (REPO / "README.md").read_text())
    local = [t for t in targets if "://" not in t]
    missing = [t for t in local if not (REPO / t).exists()]
    assert local and not missing, missing
