"""Fixtures of the analysis tests: a random generator and a CLI parser with only the ``analyze`` group."""

import argparse

import numpy as np
import pytest

from hydropimd.cli import analyze


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


@pytest.fixture
def cli():
    """Run ``hydropimd analyze ...`` in-process through add_commands (cli/main.py wires the same group)."""
    parser = argparse.ArgumentParser(prog="hydropimd")
    analyze.add_commands(parser.add_subparsers(dest="command", required=True))

    def run(*argv):
        args = parser.parse_args(["analyze", *map(str, argv)])
        args.func(args)

    return run
