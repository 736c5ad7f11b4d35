"""Lightning checkpoint I/O: atomic writes and ``weights_only`` loads."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from convrnn.io import load_checkpoint, save_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes checkpoints through a temporary file and a rename; loads them with ``weights_only=True``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        save_atomic(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict:
        return load_checkpoint(path, map_location if map_location is not None else "cpu")
