"""Settings files: one strict pydantic base and one loader for TOML and JSON, with one-line errors.

Every stage defines its settings once, as a :class:`Settings` model (units in field
names, the reason for each default beside it); the study and active-learning
configurations embed them, and the command line mirrors them.  Files are read by
:func:`read_settings_file` and validated by :func:`validate_settings`, which turn
every problem (missing file, bad TOML/JSON, an unknown key, a value out of range)
into one :class:`~hydropimd.errors.InputError` naming the file, the key and the fix.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hydropimd.errors import InputError


class Settings(BaseModel):
    """Base of every settings model: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid")


S = TypeVar("S", bound=BaseModel)


def read_settings_file(path: str | os.PathLike, what: str = "settings file") -> dict:
    """The table of a TOML file, or of a JSON one (a ``.json`` name, or text that parses as JSON); one
    InputError naming the file otherwise."""
    path = Path(path)
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        text = path.read_bytes().decode("utf-8")
        if path.suffix != ".toml" and text.lstrip().startswith(("{", "[")) and not text.lstrip().startswith("[["):
            kind = "JSON"  # a JSON file under another name (a TOML file cannot start with "{"; "[x]" is a TOML table)
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                kind = "TOML"
                raw = tomllib.loads(text)
        else:
            raw = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except FileNotFoundError:
        raise InputError(f"cannot read {what} {path}: it does not exist; give the path of a {kind} file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {what} {path}: it is a directory; give the path of a {kind} file") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {what} {path}: not a text file; give a {kind} file") from None
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {what} {path}: not valid {kind} ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{what} {path} holds a {type(raw).__name__}: it must be a table of settings "
                         "(key = value), not a list")
    return raw


def validate_settings(model: type[S], raw, where: str, fix: str = "fix the file") -> S:
    """``model`` validated from ``raw``; the first problem as one InputError located as ``where: key: problem``."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise InputError(f"{where}: {first_problem(err)} ({fix})") from None


def first_problem(err: ValidationError) -> str:
    """The first problem pydantic found, as ``key.path: message`` (a check across keys has no location)."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def load_settings(model: type[S], source, what: str, fix: str = "fix the file") -> S:
    """A settings model from a file path, a dict, an instance of ``model`` or None (all defaults)."""
    if isinstance(source, model):
        return source
    if source is None:
        return validate_settings(model, {}, what, fix)
    if isinstance(source, dict):
        return validate_settings(model, source, what, fix)
    return validate_settings(model, read_settings_file(source, what), str(source), fix)
