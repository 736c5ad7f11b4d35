"""KTH clip files on disk: clip names, PNG folders and ``.avi`` files, trimmed clip lists, frame cache.

See :mod:`convrnn.data.kth` for the layout under ``root`` and the protocols.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convrnn.data.errors import DatasetError, MissingDataError
from convrnn.data.images import image_shape, read_png_grey, resize_frames
from convrnn.data.mnist import data_dir
from convrnn.data.video import read_video_grey, require_pyav
from convrnn.io import save_npy_atomic

ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
CLIP_RE = re.compile(r"^person(\d+)_([a-z]+)_d(\d+)$")
FRAME_RE = re.compile(r"(\d+)\.png$", re.IGNORECASE)
WHOLE_CLIP = -1  # end marker of a clip used from its first to its last frame
LIST_NAMES = ("{}_data_list_trimmed.txt", "{}_data_list_trimmed_only_run.txt", "{}_data_list.txt")
#: one clip range of a split: ``(clip name, first frame, last frame)``, 1-based inclusive
Entry = tuple[str, int, int]


@dataclass
class Clip:
    """One KTH video: a PNG folder or an .avi file."""

    name: str
    person: int
    action: str
    png_dir: Path | None = None
    avi: Path | None = None
    frame_files: list[str] | None = None
    cache: Path | None = None
    num_frames: int = 0
    frame_shape: tuple[int, int] | None = None  # (H, W) of PNG frame 1, read on first use


def parse_clip_name(name: str) -> tuple[int, str] | None:
    """``person01_boxing_d1[_uncomp]`` -> (person, action), or None if it is not a KTH clip name."""
    m = CLIP_RE.match(name.removesuffix("_uncomp"))
    if not m or m.group(2) not in ACTIONS:
        return None
    return int(m.group(1)), m.group(2)


def find_clips(root: Path) -> dict[str, Clip]:
    """Every clip under ``root/<action>/`` (PNG folder or .avi), keyed by clip name."""
    clips: dict[str, Clip] = {}
    for action in ACTIONS:
        folder = root / action
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            is_avi = entry.is_file() and entry.suffix.lower() == ".avi"
            if not (entry.is_dir() or is_avi):
                continue
            name = (entry.stem if is_avi else entry.name).removesuffix("_uncomp")
            parsed = parse_clip_name(name)
            if parsed is None or parsed[1] != action:
                continue
            clip = clips.setdefault(name, Clip(name, parsed[0], action))
            if is_avi:
                clip.avi = entry
            else:
                clip.png_dir = entry
    return clips


def read_clip_list(path: Path) -> list[Entry]:
    """Parse a trimmed clip list: ``name start end`` per line (1-based, inclusive)."""
    entries = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise DatasetError(f"{path}:{lineno}: expected 'name start end', got {line!r}")
        name = parts[0].removesuffix(".avi").removesuffix("_uncomp")
        if parse_clip_name(name) is None:
            raise DatasetError(f"{path}:{lineno}: {parts[0]!r} is not a KTH clip name")
        start, end = int(parts[1]), int(parts[2])
        if start < 1 or end < start:
            raise DatasetError(f"{path}:{lineno}: bad frame range {start}..{end}")
        entries.append((name, start, end))
    return entries


def find_clip_list(root: Path, list_split: str) -> Path | None:
    """The trimmed list of ``list_split`` ("train" or "test") in the usual places, or None."""
    for folder in (root, root / "kth_txt", root.parent / "kth_txt"):
        for pattern in LIST_NAMES:
            path = folder / pattern.format(list_split)
            if path.is_file():
                return path
    return None


def png_frames(clip: Clip) -> list[str]:
    """The PNG file names of a clip folder, frames 1..n in order (no gaps allowed)."""
    numbered = {}
    for entry in os.scandir(clip.png_dir):
        m = FRAME_RE.search(entry.name)
        if m:
            numbered[int(m.group(1))] = entry.name
    if not numbered:
        raise MissingDataError(f"{clip.png_dir}: no PNG frames (expected 1.png, 2.png, ...)")
    n = max(numbered)
    missing = [i for i in range(1, n + 1) if i not in numbered]
    if missing:
        raise DatasetError(
            f"{clip.png_dir}: frames {missing[:5]} of 1..{n} are missing (frames must be numbered "
            "from 1 without gaps)"
        )
    return [numbered[i] for i in range(1, n + 1)]


def to_size(frames_u8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(T, H, W)`` -> uint8 ``(T, h, w)``: bilinear, rounded like cv2 on 8-bit images."""
    x = resize_frames(frames_u8[:, None].astype(np.float32), size)
    return np.clip(np.rint(x[:, 0]), 0, 255).astype(np.uint8)


def cache_dir_for(root: Path, size: tuple[int, int], cache_dir: Any) -> Path:
    """Where the decoded ``.avi`` frames of ``root`` at ``size`` are cached."""
    if cache_dir is not None:
        return Path(cache_dir) / f"{size[0]}x{size[1]}"
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return data_dir() / "kth-cache" / f"{key}-{size[0]}x{size[1]}"


@dataclass
class ClipSelection:
    """The clip ranges of a split: from a clip list (``from_list``) or every frame of every clip."""

    entries: list[Entry]
    from_list: bool
    note: str


def select_entries(
    root: Path, split: str, clips_found: dict[str, Clip], clip_lists: dict[str, Any] | bool | None
) -> ClipSelection:
    """The clip ranges of ``split``: ``clip_lists`` (paths), the lists found, or (``False``) none."""
    list_split = "test" if split == "test" else "train"
    if clip_lists is False:
        path = None
    elif isinstance(clip_lists, dict):
        path = Path(clip_lists[list_split]) if list_split in clip_lists else None
        if path is None or not path.is_file():
            raise MissingDataError(f"clip list for {list_split!r} not found: {path}")
    else:
        path = find_clip_list(root, list_split)
    if path is not None:
        return ClipSelection(read_clip_list(path), True, f"clip list {path}")
    if clip_lists is None:
        warnings.warn(
            f"no KTH {list_split} clip list (e.g. {list_split}_data_list_trimmed.txt) in "
            f"{root} or kth_txt/: using every frame of every clip",
            stacklevel=3,
        )
    entries = [(name, 1, WHOLE_CLIP) for name in sorted(clips_found)]
    return ClipSelection(entries, False, "no clip list: every frame of every clip")


def prepare_clip(clip: Clip, cache: Path, size: tuple[int, int]) -> Clip:
    """Count a clip's frames; an ``.avi`` is decoded at ``size`` once and cached under ``cache``."""
    if clip.png_dir is not None:
        clip.frame_files = png_frames(clip)
        clip.num_frames = len(clip.frame_files)
        return clip
    require_pyav()
    clip.cache = cache / f"{clip.name}.npy"
    if clip.cache.exists():
        try:
            arr = np.load(clip.cache, mmap_mode="r")
            ok = arr.ndim == 3 and arr.shape[1:] == size and arr.dtype == np.uint8
        except (ValueError, OSError):
            ok = False
        if ok:
            clip.num_frames = arr.shape[0]
            return clip
    frames = to_size(read_video_grey(clip.avi), size)
    save_npy_atomic(clip.cache, frames)
    clip.num_frames = frames.shape[0]
    return clip


def png_frame(clip: Clip, number: int) -> np.ndarray:
    """PNG frame ``number`` (1-based) of ``clip``, checked to be the size of the clip's frame 1."""
    files = clip.frame_files
    if clip.frame_shape is None:
        clip.frame_shape = image_shape(clip.png_dir / files[0])
    path = clip.png_dir / files[number - 1]
    frame = read_png_grey(path)
    if frame.shape != clip.frame_shape:
        (h, w), (eh, ew) = frame.shape, clip.frame_shape
        raise DatasetError(
            f"{path}: frame is {w}x{h} pixels (width x height), expected {ew}x{eh} like "
            f"frame 1 of the clip ({clip.png_dir / files[0]}); every frame of a clip must "
            "have the same size: extract the clip's frames again"
        )
    return frame


def action_of(name: str) -> str:
    """The action of a clip name (``?`` if it is not a KTH name)."""
    parsed = parse_clip_name(name)
    return parsed[1] if parsed else "?"
