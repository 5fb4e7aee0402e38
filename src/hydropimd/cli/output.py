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
    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="right" if c != columns[0] else "left")
    for r in rows:
        table.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in r])
    stdout.print(table)


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
