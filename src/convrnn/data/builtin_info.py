"""Metadata of datasets whose loader module does not register its own (Moving MNIST)."""

from __future__ import annotations

from typing import Any

from convrnn.data.info import DatasetInfo
from convrnn.data.registry import register_info


@register_info("moving-mnist")
def moving_mnist_info(seq_len: int = 20, image_size: int = 64, **_: Any) -> DatasetInfo:
    """Moving MNIST metadata."""
    return DatasetInfo(
        name="moving-mnist",
        description="Moving MNIST: 2 bouncing digits, 28x28 on 64x64 (seeded generator)",
        input_length=seq_len // 2,
        output_length=seq_len - seq_len // 2,
        frame_size=(image_size, image_size),
        channels=1,
        interval="1 frame",
        splits="train digits from the MNIST train split, val from its last 10k, test from the test split",
        papers={
            "ms-rnn": {
                "size": 64,
                "in_out": "10 -> 10",
                "epochs": 20,
                "batch": 4,
                "split": "7:1:2 of 15,000 (paper); code 7:3 with valid = test",
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-RNN paper IV-A/IV-B; official-ms-rnn.md 2.1, 3",
            },
            "ms-lstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "epochs": 40,
                "batch": 4,
                "split": "7:3 of 15,000",
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-LSTM paper 5.1/5.2",
            },
            "cms-lstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": "80,000 (and 400,000 for CMS-LSTM*)",
                "batch": 8,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "CMS-LSTM paper section 4",
            },
            "modernn": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": 80000,
                "batch": 32,
                "optimizer": "AdamW 1e-3, L1+L2",
                "source": "MoDeRNN paper 3.1/3.3",
            },
            "sa-convlstm": {
                "size": 64,
                "in_out": "10 -> 10",
                "iterations": 80000,
                "batch": 8,
                "optimizer": "Adam 1e-3, L2",
                "source": "SA-ConvLSTM paper 4.1",
            },
        },
        options={"seq_len": seq_len, "image_size": image_size},
    )
