"""One registration per dataset: :class:`DatasetSpec` (loader, metadata, options) and ``register_dataset``.

This module knows no dataset; each loader module registers its own (the built-in
ones are imported by :mod:`convrnn.data.registry`, which offers the lookups).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from torch.utils.data import Dataset

from convrnn.errors import ConfigError, check_choice

if TYPE_CHECKING:
    from convrnn.data.info import DatasetInfo

DatasetLoader = Callable[..., Dataset]
InfoFunction = Callable[..., "DatasetInfo"]
#: which loader options carry the sequence length: ``seq_len``, ``input_length`` and
#: ``output_length``, or none (a fixed length, e.g. Typhoon's 12 frames)
LengthOptions = Literal["seq_len", "input_output"] | None
LENGTH_OPTIONS = ("seq_len", "input_output", None)


def keyword_options(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only parameter names of ``fn`` (a dataset class's options)."""
    params = inspect.signature(fn).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: how to build a split, its metadata, and which options it takes.

    ``loader(split, root, **options)`` builds a split; ``info(**options)`` its
    :class:`~convrnn.data.info.DatasetInfo` (``None``: no metadata); ``options``
    the option names the loader accepts (``None``: not checked); ``lengths``
    which of them carry the sequence length (see ``LengthOptions``);
    ``takes_normalizer`` whether other splits reuse the training split's fitted
    ``normalizer=``; ``reads_paths`` whether a file or folder given as the
    dataset (``--data PATH``) means this dataset with that root.
    """

    name: str
    loader: DatasetLoader
    info: InfoFunction | None = None
    options: tuple[str, ...] | None = None
    lengths: LengthOptions = None
    takes_normalizer: bool = False
    reads_paths: bool = False

    def info_options(self) -> tuple[str, ...] | None:
        """The options ``dataset_info`` accepts: the loader's and the info function's own."""
        if self.options is None or self.info is None:
            return self.options
        named = (
            p.name
            for p in inspect.signature(self.info).parameters.values()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        return tuple(dict.fromkeys((*self.options, *named)))

    def check_options(self, options: Mapping[str, Any], valid: Iterable[str] | None = None) -> None:
        """Raise :class:`ConfigError` naming each unknown option and listing the valid ones."""
        allowed = self.options if valid is None else tuple(valid)
        if allowed is None:
            return
        unknown = [k for k in options if k not in allowed]
        if not unknown:
            return
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)} for dataset "
            f"{self.name!r}; valid options: {', '.join(sorted(allowed))}"
        )

    def length_options(self, input_length: int, total: int) -> dict[str, int]:
        """The loader options that make it yield ``total`` frames with ``input_length`` inputs."""
        if self.lengths == "seq_len":
            return {"seq_len": total}
        if self.lengths == "input_output":
            return {"input_length": input_length, "output_length": total - input_length}
        return {}


SPECS: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    *,
    info: InfoFunction | None = None,
    options: Iterable[str] | None = None,
    lengths: LengthOptions = None,
    takes_normalizer: bool = False,
    reads_paths: bool = False,
) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator registering ``loader(split, root, **options) -> Dataset`` as dataset ``name``.

    ``options`` defaults to the loader's keyword-only parameters (unchecked when it
    takes only ``**options``); the other keywords fill the :class:`DatasetSpec`.
    """
    check_choice("length option kind", lengths, LENGTH_OPTIONS)

    def wrap(loader: DatasetLoader) -> DatasetLoader:
        if name in SPECS:
            raise ValueError(f"dataset {name!r} is registered twice")
        if reads_paths and any(s.reads_paths for s in SPECS.values()):
            raise ValueError(f"dataset {name!r}: only one dataset may read paths given as --data")
        valid = tuple(options) if options is not None else keyword_options(loader) or None
        SPECS[name] = DatasetSpec(name, loader, info, valid, lengths, takes_normalizer, reads_paths)
        return loader

    return wrap


def register_dataset_class(
    name: str,
    cls: type[Dataset],
    *,
    info: InfoFunction | None = None,
    lengths: LengthOptions = None,
    takes_normalizer: bool = False,
    reads_paths: bool = False,
) -> None:
    """Register a dataset class built as ``cls(root, split, **options)`` (its keyword-only options)."""

    def loader(split: str, root: Any = None, **options: Any) -> Dataset:
        return cls(root, split, **options)

    loader.__doc__ = f"``get_dataset({name!r}, root, split, **options)``: ``{cls.__name__}``."
    register_dataset(
        name,
        info=info,
        options=keyword_options(cls),
        lengths=lengths,
        takes_normalizer=takes_normalizer,
        reads_paths=reads_paths,
    )(loader)
