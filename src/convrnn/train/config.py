"""TRANSITIONAL: moved to :mod:`convrnn.config`; cli.py and train/module.py import it here until merge."""

from convrnn.config import *  # noqa: F403
