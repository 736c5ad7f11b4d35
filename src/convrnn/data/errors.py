"""Errors raised by the dataset loaders: what is wrong, with which file, and how to fix it."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset copy is corrupt, inconsistent or does not match its format."""


class MissingDataError(DatasetError, FileNotFoundError):
    """Files or folders a dataset needs are missing."""
