"""Sphinx configuration of the hydropimd documentation (``make docs``: docs/_build/html, warnings are errors)."""

from __future__ import annotations

import os
import sys
from datetime import date
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # an uninstalled checkout documents itself
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

project = "hydropimd"
author = "the hydropimd developers"
copyright = f"{date.today().year}, {author}"
try:
    release = _version("hydropimd")
except PackageNotFoundError:
    release = "unknown"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the few NumPy-style docstrings (HydridePotential)
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "sphinxcontrib.autodoc_pydantic",
    "sphinxcontrib.bibtex",
    "hydropimd_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []

# MyST: $...$ maths, ::: fences, definition lists, heading anchors for [text](page.md#anchor) links
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist", "attrs_block", "attrs_inline"]
myst_heading_anchors = 3

# autodoc: members in source order, type hints in the description, no private names
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": False}
nitpicky = False

# autodoc_pydantic: one table per settings model: every key with its type, default, constraints and reason
autodoc_pydantic_model_show_json = False
autodoc_pydantic_model_show_config_summary = False
autodoc_pydantic_model_show_validator_summary = False
autodoc_pydantic_model_show_validator_members = False
autodoc_pydantic_model_show_field_summary = True
autodoc_pydantic_model_member_order = "bysource"
autodoc_pydantic_field_list_validators = False
autodoc_pydantic_field_show_constraints = True
autodoc_pydantic_model_undoc_members = True
autodoc_pydantic_model_members = True
autodoc_pydantic_model_hide_paramlist = True
autodoc_pydantic_model_signature_prefix = "settings"

bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "unsrt"
bibtex_reference_style = "author_year"

html_theme = "furo"
html_title = f"hydropimd {release}"
html_static_path = []
