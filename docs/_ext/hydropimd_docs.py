"""Sphinx helpers of the hydropimd documentation (loaded by ``docs/conf.py``).

* :func:`cli_parser`: the real command-line parser, :func:`hydropimd.cli.main.build_parser`, with its help texts
  escaped for reStructuredText.  The help is plain text written for a terminal (``|angle - 90|``, ``x*y``,
  ``NAME_``); sphinx-argparse parses it as reStructuredText, where ``|...|`` is a substitution and ``*`` starts
  emphasis.  Escaping makes the page show exactly what ``hydropimd ... --help`` prints.
* :func:`escape_plain_docstring_marks`: the same for two plain-text habits of the source's docstrings and field
  comments (absolute values ``|x|`` and an unpaired ``*``), which reStructuredText would otherwise read as markup,
  and :data:`DOCSTRING_FIXES` for docstrings that need a fix in ``src/``.
* :func:`field_documenter`: autodoc_pydantic's field documenter showing factory-made defaults as values.
* ``hydropimd-value``: a directive that prints a module constant (a dict of defaults) as JSON.
"""

from __future__ import annotations

import argparse
import json
import re

from docutils import nodes
from docutils.parsers.rst import Directive

_RST_SPECIALS = re.compile(r"([\\*`|_])")


def _escape(text):
    return _RST_SPECIALS.sub(r"\\\1", text) if isinstance(text, str) else text


def _escape_parser(parser: argparse.ArgumentParser, seen: set[int]) -> None:
    if id(parser) in seen:
        return
    seen.add(id(parser))
    parser.description = _escape(parser.description)
    parser.epilog = _escape(parser.epilog)
    for action in parser._actions:
        if action.help not in (None, argparse.SUPPRESS):
            action.help = _escape(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = _escape(choice.help)
            for sub in action.choices.values():
                _escape_parser(sub, seen)


def cli_parser() -> argparse.ArgumentParser:
    """``hydropimd``'s own parser (:func:`hydropimd.cli.main.build_parser`), help texts escaped for the page."""
    from hydropimd.cli.main import build_parser

    parser = build_parser()
    _escape_parser(parser, set())
    return parser


#: source docstrings written before a reStructuredText fix was possible there (src/ is edited separately): object
#: name -> (line as written, line as reST needs it).  A pair whose line is no longer found is ignored, so fixing the
#: docstring in src/ needs no change here (then delete the entry).
DOCSTRING_FIXES = {
    # an indented layout after a plain ':' is a block quote in reST; '::' makes it the literal block it is meant as
    "hydropimd.md.rundir": [("reads a run through this module and nothing else:",
                             "reads a run through this module and nothing else::")],
}


def _plain_marks(text: str) -> str:
    """``|`` (absolute values, norms: ``|x_i - x_j|``) and a line's unpaired ``*`` (``x*y``, ``*_ps``) escaped."""
    text = text.replace("|", r"\|")
    if text.count("*") % 2:
        bullet = re.match(r"\s*\* ", text)
        head, rest = (text[:bullet.end()], text[bullet.end():]) if bullet else ("", text)
        text = head + rest.replace("*", r"\*")
    return text


def escape_plain_docstring_marks(app, what, name, obj, options, lines: list[str]) -> None:
    """``autodoc-process-docstring``: the plain-text marks of the source's docstrings escaped for reST.

    ``|x|`` is an absolute value in this project's docstrings, never a substitution, and a ``*`` without its pair
    is a product or a wildcard, never emphasis.  Inline literals (double backquotes) and literal blocks (the
    indented lines after a line ending in ``::``) are left alone."""
    for old, new in DOCSTRING_FIXES.get(name, ()):
        lines[:] = [new if line.strip() == old else line for line in lines]
    literal_indent, in_literal = None, False  # an inline literal may run on over a line break
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        parts = line.split("``")
        for j in range(len(parts)):
            if not in_literal:
                parts[j] = _plain_marks(parts[j])
            if j < len(parts) - 1:
                in_literal = not in_literal
        lines[k] = "``".join(parts)
        if not stripped:
            in_literal = False  # a paragraph ends every inline markup
        if line.rstrip().endswith("::"):
            literal_indent = indent


def factory_default(field) -> str | None:
    """The default of a pydantic field made by a factory, as the page shows it; None for other fields."""
    from pydantic import BaseModel

    factory = field.default_factory
    if factory is None or getattr(field, "default_factory_takes_data", False):
        return None
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        return f"{factory.__name__}()"
    code = getattr(factory, "__code__", None)
    if code is not None and {"sched_getaffinity", "cpu_count"} & set(code.co_names):
        return "the number of cores available"
    value = factory()
    if isinstance(value, BaseModel):
        return f"{type(value).__name__}()"
    return json.dumps(value)


def field_documenter():
    """autodoc_pydantic's field documenter, with two changes for this project's settings models:

    * a default made by a factory is shown as its value (autodoc_pydantic writes "Optional"), so every key's
      default is on the page: a list or table as written, a nested table as ``Model()`` (every key at its
      default), a machine-dependent one (the number of cores) in words;
    * a validator function among the constraints is shown by its name, not as ``<function ... at 0x...>``.
    """
    from sphinxcontrib.autodoc_pydantic.directives.autodocumenters import PydanticFieldDocumenter

    class FieldDocumenter(PydanticFieldDocumenter):
        priority = PydanticFieldDocumenter.priority + 1

        def add_default_value_or_marker(self) -> None:
            field = self.pydantic.inspect.fields.get(self.pydantic_field_name)
            value = None if field.is_required() else factory_default(field)
            if value is None:
                return super().add_default_value_or_marker()
            self.add_line(f"   :value: {value}", self.get_sourcename())

        def add_constraints(self) -> None:
            constraints = self.pydantic.inspect.fields.get_constraints(self.pydantic_field_name)
            if not constraints:
                return
            source = self.get_sourcename()
            self.add_line(":Constraints:", source)
            for key, value in constraints.items():
                if callable(value):
                    key, value = "checked by", getattr(value, "__name__", type(value).__name__)
                self.add_line(f"   - **{key}** = {value}", source)
            self.add_line("", source)

    return FieldDocumenter


class ValueDirective(Directive):
    """``.. hydropimd-value:: module.NAME``: the value of a module-level constant, pretty-printed as JSON."""

    required_arguments = 1
    has_content = False

    def run(self):
        import importlib

        module, _, attribute = self.arguments[0].rpartition(".")
        value = getattr(importlib.import_module(module), attribute)
        text = json.dumps(value, indent=2)
        block = nodes.literal_block(text, text)
        block["language"] = "json"
        return [block]


def setup(app):
    app.connect("autodoc-process-docstring", escape_plain_docstring_marks)
    app.setup_extension("sphinxcontrib.autodoc_pydantic")
    app.add_autodocumenter(field_documenter(), override=True)
    app.add_directive("hydropimd-value", ValueDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
