"""KTH human actions: original ``.avi`` files or PNG frame folders, the papers' split and strides.

Layout under ``root`` (either form, per clip; PNG folders win when both exist)::

    <action>/person01_boxing_d1_uncomp.avi      # the original KTH archive
    <action>/person01_boxing_d1/1.png, 2.png ...  # MS-RNN's kth_preproccess.py (frames from 1)

Clip lists in the MCnet/E3D/PredRNN "trimmed" format (one ``name start end``
per line, 1-based inclusive frame numbers), looked up in ``root``,
``root/kth_txt`` and ``root/../kth_txt`` as ``{train,test}_data_list_trimmed.txt``
(or ``..._trimmed_only_run.txt``, ``..._list.txt``); without lists every
frame of every clip is used (and a warning says so). A list range that runs
past the end of its video is clamped to the frames that exist (as MCnet does)
and reported in ``summary()``.

Protocols (``reference/official-ms-rnn.md`` section 3; MS-RNN paper section IV-D;
MS-LSTM paper section 5.4):

* ``ms-rnn``: all six actions, 88x88, train windows of 20 with stride 1, test
  windows of 30 (10 -> 20) with stride 3 for jogging/running and 20 otherwise;
* ``ms-lstm``: walking, jogging, running, 128x128, windows of 20 (10 -> 10),
  stride 10 for walking/jogging and 3 for running, in every split.

Persons 1-16 train, 17-25 test. **Validation** (not in the papers, which
validate on the test set): the training-list clips of ``val_persons``
(default person 16), with the test strides and the training window length;
those persons are then left out of ``train``. Pass ``val_persons=()`` to
train on all 16 persons (and have no validation split).

Frames are grey (PIL's luma; KTH videos are grey so every channel is equal,
which is what the official code's "channel 0" reads), resized to ``size``
(bilinear, half-pixel centres, rounded to 8 bits like ``cv2.resize`` on uint8;
the 160x120 frames are stretched to a square as in the official code), then
divided by 255. Every PNG frame of a clip must have the size of its frame 1
(clips may differ); a frame of another size is an error naming the file.
Decoded ``.avi`` frames are cached as ``.npy`` files under ``cache_dir``
(default ``$CONVRNN_DATA/kth-cache``, else ``~/.cache/convrnn``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import parse_size
from convrnn.data.info import DatasetInfo
from convrnn.data.kth_clips import (
    ACTIONS,
    WHOLE_CLIP,
    Clip,
    action_of,
    cache_dir_for,
    find_clips,
    parse_clip_name,
    png_frame,
    prepare_clip,
    select_entries,
    to_size,
)
from convrnn.data.normalize import Normalizer
from convrnn.data.spec import register_dataset_class
from convrnn.data.windows import Window, WindowDataset, check_split, sliding_windows
from convrnn.errors import ChoiceError, ConfigError, check_choice

TRAIN_PERSONS = tuple(range(1, 17))
TEST_PERSONS = tuple(range(17, 26))
DEFAULT_VAL_PERSONS = (16,)


def _ms_rnn_test_strides(window: int = 20) -> dict[str, int]:
    return {a: 3 if a in ("jogging", "running") else window for a in ACTIONS}


@dataclass(frozen=True)
class Protocol:
    """A paper's KTH settings."""

    description: str
    actions: tuple[str, ...]
    size: int
    seq_len: dict[str, int]
    strides: dict[str, dict[str, int]]
    output_length: dict[str, int] = field(default_factory=dict)


PROTOCOLS = {
    "ms-rnn": Protocol(
        "MS-RNN paper: 6 actions, 88x88, 10 -> 10 training (stride 1), 10 -> 20 test "
        "(stride 3 jogging/running, 20 otherwise)",
        ACTIONS,
        88,
        {"train": 20, "val": 20, "test": 30},
        {
            "train": dict.fromkeys(ACTIONS, 1),
            "val": _ms_rnn_test_strides(),
            "test": _ms_rnn_test_strides(),
        },
        {"train": 10, "val": 10, "test": 20},
    ),
    "ms-lstm": Protocol(
        "MS-LSTM paper: walking/jogging/running, 128x128, 10 -> 10, stride 10/10/3",
        ("walking", "jogging", "running"),
        128,
        {"train": 20, "val": 20, "test": 20},
        {s: {"walking": 10, "jogging": 10, "running": 3} for s in ("train", "val", "test")},
        {"train": 10, "val": 10, "test": 10},
    ),
}


def get_protocol(protocol: str) -> Protocol:
    """The named KTH protocol."""
    try:
        return PROTOCOLS[check_choice("KTH protocol", protocol, PROTOCOLS)]
    except ChoiceError as e:
        raise ChoiceError(f"protocol={protocol!r}: {e}") from None


class KTH(WindowDataset):
    """KTH windows ``(T, 1, size, size)`` of one split under a paper's protocol."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        protocol: str = "ms-rnn",
        size: int | tuple[int, int] | None = None,
        seq_len: int | None = None,
        actions: tuple[str, ...] | list[str] | None = None,
        stride: int | dict[str, int] | None = None,
        val_persons: tuple[int, ...] | list[int] = DEFAULT_VAL_PERSONS,
        clip_lists: dict[str, Any] | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        split = check_split(split)
        proto = get_protocol(protocol)
        self.root = Path(root) if root is not None else None
        if self.root is None or not self.root.is_dir():
            raise MissingDataError(f"KTH root {root!r} is not a directory")
        self.size = parse_size(size if size is not None else proto.size)
        self.protocol = protocol
        actions = tuple(actions) if actions is not None else proto.actions
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise ConfigError(f"unknown KTH actions {unknown}; valid: {ACTIONS}")
        val_persons = tuple(int(p) for p in val_persons)
        if any(p not in TRAIN_PERSONS for p in val_persons):
            raise ConfigError(f"val_persons must be training persons 1-16, got {val_persons}")
        if split == "val" and not val_persons:
            raise ConfigError("no validation split: val_persons=() keeps every training person")
        persons = {
            "train": [p for p in TRAIN_PERSONS if p not in val_persons],
            "val": list(val_persons),
            "test": list(TEST_PERSONS),
        }[split]
        length = seq_len if seq_len is not None else proto.seq_len[split]
        strides = proto.strides[split]
        if stride is not None:
            strides = dict.fromkeys(ACTIONS, stride) if isinstance(stride, int) else dict(stride)
        clips_found = find_clips(self.root)
        if not clips_found:
            raise MissingDataError(
                f"{self.root}: no KTH clips found; expected <action>/personXX_<action>_dY_uncomp.avi "
                f"or <action>/personXX_<action>_dY/<n>.png with action in {ACTIONS}"
            )
        selection = select_entries(self.root, split, clips_found, clip_lists)
        notes = [selection.note]
        allowed = set(TRAIN_PERSONS if split != "test" else TEST_PERSONS)
        wanted = []
        for name, start, end in selection.entries:
            person, action = parse_clip_name(name)  # type: ignore[misc]
            if selection.from_list and person not in allowed:
                raise DatasetError(
                    f"the {'test' if split == 'test' else 'train'} clip list names {name} "
                    f"(person {person}), outside persons {min(allowed)}-{max(allowed)} of that split"
                )
            if person in persons and action in actions:
                wanted.append((name, start, end))
        missing = sorted({n for n, _, _ in wanted if n not in clips_found})
        if missing:
            raise MissingDataError(
                f"{len(missing)} KTH clips of the {split} split are missing under {self.root}, e.g. "
                + ", ".join(f"{action_of(n)}/{n}_uncomp.avi" for n in missing[:5])
            )
        self.clips: list[Clip] = []
        index: dict[str, int] = {}
        cache = cache_dir_for(self.root, self.size, cache_dir)
        for name, _, _ in wanted:
            if name not in index:
                index[name] = len(self.clips)
                self.clips.append(prepare_clip(clips_found[name], cache, self.size))
        windows: list[Window] = []
        clamped = []
        for name, start, end in sorted(wanted):
            clip = self.clips[index[name]]
            if end == WHOLE_CLIP:
                end = clip.num_frames
            elif end > clip.num_frames:
                clamped.append(f"{name} {start}-{end} (video has {clip.num_frames} frames)")
                end = clip.num_frames
            windows += sliding_windows(index[name], start, end + 1, length, strides[clip.action])
        if clamped:
            notes.append(
                f"{len(clamped)} list ranges run past their video and were clamped: "
                + "; ".join(clamped[:5])
            )
        notes.insert(
            0,
            f"{len(self.clips)} clips of persons {persons[0]}-{persons[-1]} "
            f"({', '.join(actions)}); protocol {protocol}; frames {self.size[0]}x{self.size[1]}",
        )
        info = kth_info(protocol=protocol, size=self.size)
        super().__init__(
            split,
            windows,
            info,
            Normalizer.fixed_range(
                0, 255, fitted_on="8-bit grey / 255", units="8-bit grey value (0-255)"
            ),
        )
        self.notes = notes
        if not windows:
            raise DatasetError(f"KTH {split}: no window of {length} frames fits in the clips")

    def read_window(self, window: Window) -> np.ndarray:
        clip = self.clips[window.source]
        numbers = list(window.indices())  # 1-based frame numbers
        if clip.frame_files is not None:
            raw = np.stack([png_frame(clip, i) for i in numbers])
            frames = to_size(raw, self.size)
        else:
            frames = np.asarray(np.load(clip.cache, mmap_mode="r")[[i - 1 for i in numbers]])
        return (frames[:, None].astype(np.float32)) / 255.0


def kth_info(protocol: str = "ms-rnn", size: int | tuple[int, int] | None = None, **_: Any):
    """KTH metadata under a protocol."""
    proto = get_protocol(protocol)
    hw = parse_size(size if size is not None else proto.size)
    return DatasetInfo(
        name="kth",
        description="KTH human actions (grey video, 25 fps); " + proto.description,
        input_length=10,
        output_length=10,
        test_output_length=proto.output_length["test"],
        frame_size=hw,
        channels=1,
        interval="40 ms (25 fps)",
        splits="persons 1-16 train (minus val_persons, default 16, = validation), 17-25 test",
        papers={
            "ms-rnn": {
                "size": 88,
                "in_out": "10 -> 10 train, 10 -> 20 test",
                "strides": "train 1; test 3 (jogging, running) / 20 (others)",
                "epochs": 20,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-RNN paper IV-A/IV-D; official-ms-rnn.md 2.1, 3",
            },
            "ms-lstm": {
                "size": 128,
                "in_out": "10 -> 10",
                "actions": "walking, jogging, running",
                "strides": "10 / 10 / 3 (train and test)",
                "epochs": 20,
                "batch": 4,
                "optimizer": "Adam 3e-4, L1+L2",
                "source": "MS-LSTM paper 5.1/5.4; official-ms-rnn.md 2.1, 3",
            },
            "sa-convlstm": {
                "size": 128,
                "in_out": "10 -> 10 train, 10 -> 20 test",
                "iterations": 80000,
                "batch": 8,
                "optimizer": "Adam 1e-3, L1+L2",
                "source": "SA-ConvLSTM paper 4.1",
            },
        },
        options={"protocol": protocol, "size": list(hw)},
    )


register_dataset_class("kth", KTH, info=kth_info, lengths="seq_len")
