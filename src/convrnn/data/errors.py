"""Errors raised by the dataset loaders (defined in :mod:`convrnn.errors`, re-exported here)."""

from convrnn.errors import DatasetError, MissingDataError

__all__ = ["DatasetError", "MissingDataError"]
