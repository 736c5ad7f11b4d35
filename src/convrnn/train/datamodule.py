"""The DataModule: the splits of a config batched for training, validation and test, resumable mid-run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from convrnn.train.data import load_split


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` in order: every sequence on exactly one process.

    Unlike ``DistributedSampler`` it never pads a shard with repeated sequences, so
    validation metrics reduced across processes (sums and counts) are exact.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class ResumableSampler(Sampler[int]):
    """An endless stream of shuffled indices that can start anywhere.

    Epoch ``e`` is a permutation drawn from ``(seed, e)``; rank ``r`` of ``w``
    takes every ``w``-th index of it (the last ``len % w`` indices of that
    epoch's permutation are skipped, differently every epoch). Position ``start``
    (in samples of this rank) lets a resumed run continue the exact stream.
    With ``epoch_indexed`` it yields ``epoch * length + index`` instead of
    ``index``, for datasets whose random draws (augmentation) depend on the epoch.
    """

    def __init__(
        self,
        length: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        epoch_indexed: bool = False,
    ) -> None:
        if length < world_size:
            raise ValueError(
                f"the training split has {length} sequences, fewer than {world_size} processes"
            )
        self.length = length
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start
        self.per_rank = length // world_size
        self.epoch_indexed = epoch_indexed

    def indices(self, epoch: int) -> list[int]:
        """This rank's indices of epoch ``epoch``."""
        g = torch.Generator().manual_seed(self.seed * 7_919 + epoch)
        perm = torch.randperm(self.length, generator=g)
        return perm[self.rank :: self.world_size][: self.per_rank].tolist()

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            base = epoch * self.length if self.epoch_indexed else 0
            for index in self.indices(epoch)[offset:]:
                yield base + index
            epoch, offset = epoch + 1, 0


class SequenceDataModule(pl.LightningDataModule):
    """Train / val / test loaders for one config; the training stream resumes at the module's iteration."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.cfg = cfg
        self.datasets: dict[str, Dataset] = {}

    def split(self, name: str) -> Dataset:
        """The dataset of split ``name`` (loaded once)."""
        if name not in self.datasets:
            normalizer = None if name == "train" else self.normalizer()
            self.datasets[name] = load_split(self.cfg, name, normalizer)
        return self.datasets[name]

    def normalizer(self) -> Any:
        """The normalisation fitted on the training split (``None`` if the dataset has none)."""
        return getattr(self.split("train"), "normalizer", None)

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None) -> DataLoader:
        workers = self.cfg["data"]["num_workers"]
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        train = self.split("train")
        batch = self.cfg["train"]["batch_size"]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        iteration = getattr(trainer.lightning_module, "iteration", 0) if trainer is not None else 0
        sampler = ResumableSampler(
            len(train),
            self.cfg["train"]["seed"],
            rank,
            world,
            start=iteration * batch,
            epoch_indexed=getattr(train, "epoch_indexed", False),
        )
        return self._loader(train, batch, sampler)

    def _eval_loader(self, split: str, batch_size: int) -> DataLoader:
        dataset = self.split(split)
        trainer = self.trainer
        sampler = None
        if trainer is not None and trainer.world_size > 1:
            sampler = ShardSampler(len(dataset), trainer.global_rank, trainer.world_size)
        return self._loader(dataset, batch_size, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val", self.cfg["eval"]["batch_size"])

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test", self.cfg["eval"]["batch_size"])
