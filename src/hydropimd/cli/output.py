"""How commands talk to the user: JSON or rich tables on stdout, progress on stderr, one-line errors."""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

#: tables written to a file or a pipe keep their natural width (rich's default there is 80 columns, which cut the
#: wider tables, e.g. analyze phase's); on a terminal, its width
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 400)
stderr = Console(stderr=True, highlight=False)


def _plain(value):
    """JSON-ready values; NaN and infinities (undefined quantities) become null, as JSON has no spelling for them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(payload: dict) -> None:
    sys.stdout.write(json.dumps(_plain(payload), indent=2, allow_nan=False) + "\n")


def print_table(title: str, columns: list[str], rows: list[list]) -> None:
    """A titled table: drawn by rich on a terminal; in a file or a pipe, plain text (:func:`plain_table`)."""
    cells = [[f"{v:.6g}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    if not stdout.is_terminal:
        sys.stdout.write(plain_table(title, columns, cells))
        return
    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="right" if c != columns[0] else "left")
    for r in cells:
        table.add_row(*r)
    stdout.print(table)


def plain_table(title: str, columns: list[str], cells: list[list[str]]) -> str:
    """The table as text: columns two spaces apart, the first left-aligned, the others right-aligned, the last one
    unpadded.  A drawn table in a pipe padded every value to the width of the longest note (300+ characters)."""
    lines = [columns, *cells]
    widths = [max(len(line[k]) for line in lines) for k in range(len(columns))]

    def row(values: list[str]) -> str:
        padded = [v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(values[:-1], widths))]
        return "  ".join([*padded, values[-1]]).rstrip() + "\n"

    return f"{title}\n" + "".join(row(line) for line in lines)


def error(message: str) -> None:
    # escaped: messages quote file contents and config keys such as [cluster], which rich would take for markup
    stderr.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def warning(message: str, console: Console = stderr) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def show_progress(quiet: bool) -> bool:
    """Whether to draw progress bars: not under --quiet, and only on a terminal.  Redirected to a file or a
    pipe (a batch job, a test), a bar's redraws are noise, and ending one left a blank line before an error."""
    return not quiet and stderr.is_terminal


def note(message: str, quiet: bool = False) -> None:
    """A one-line remark on stderr (what a command did besides its result), silent under --quiet."""
    if not quiet:
        stderr.print(escape(message), soft_wrap=True)


@contextmanager
def progress_bar(description: str, quiet: bool):
    """Yields ``update(done, total)``; draws a rich progress bar on stderr when :func:`show_progress`."""
    if not show_progress(quiet):
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=stderr, transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done, total):
            bar.update(task, completed=done, total=total)

        yield update
