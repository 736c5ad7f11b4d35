"""Model bundles (written by ``convrnn export``): reading one, locally or from the Hugging Face Hub.

A bundle is a folder holding ``model.safetensors`` (the weights, no pickle),
``config.json`` (what rebuilds the model: its ``build_model`` keywords, the
normalisation, the input/output lengths, the interval and units), ``README.md``
(the model card) and, when the run was tested, ``metrics.json``. It loads like a
run: :func:`convrnn.load` and ``convrnn predict`` take either. ``hf://owner/name``
(optionally ``@revision``) names a bundle in a Hub repository (``pip install
convrnn[hub]``); it is downloaded once into the Hub's cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convrnn.data import Normalizer
from convrnn.errors import CheckpointError, ConfigError, RunError
from convrnn.models.factory import build_model
from convrnn.models.forecaster import Forecaster

FORMAT = "convrnn-bundle"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
HUB_PREFIX = "hf://"
HUB_HINT = "pip install convrnn[hub]  (installs huggingface_hub)"
#: the files a Hub download fetches (deployment files such as model.onnx are left on the Hub)
HUB_FILES = [CONFIG, WEIGHTS, CARD, "metrics*.json", "metrics_per_frame*.csv"]


def is_bundle(path: str | Path) -> bool:
    """Whether ``path`` is a bundle folder (it holds ``config.json``; a run holds ``config.yaml``)."""
    return (Path(path) / CONFIG).is_file()


def read_bundle_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a bundle, checked to be a convrnn bundle this version can read."""
    file = Path(path) / CONFIG
    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"{file} cannot be read as JSON ({e}); export the run again") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise RunError(f"{file} is not the config of a convrnn bundle (no format: {FORMAT})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise RunError(
            f"{path} is a bundle of format version {config['format_version']}, newer than this "
            f"convrnn reads ({FORMAT_VERSION}); upgrade convrnn"
        )
    return config


def bundle_normalizer(path: str | Path) -> Normalizer | None:
    """The normalisation a bundle's model was trained with, or ``None``."""
    data = read_bundle_config(path).get("normalization")
    return None if data is None else Normalizer.from_dict(data)


def load_bundle(
    path: str | Path, checkpoint: str = "best", map_location: Any = "cpu"
) -> Forecaster:
    """Rebuild a bundle's model from ``config.json`` and load ``model.safetensors``, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_bundle_config(path)
    if checkpoint != "best":
        raise RunError(
            f"{path} is a bundle: it holds one set of weights (exported from the run's "
            f"{config.get('source', {}).get('checkpoint', 'best')} checkpoint); drop --checkpoint"
        )
    build = dict(config["build"])
    build.pop("compile", None)
    model = build_model(**build)
    file = Path(path) / WEIGHTS
    if not file.is_file():
        raise RunError(f"bundle {path} is incomplete: {WEIGHTS} is missing; export the run again")
    try:
        weights = load_file(file, device=str(map_location) if map_location else "cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{file} is corrupt or truncated ({e}); export the run again"
        ) from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(
            f"{file} does not hold the weights of the model in {Path(path) / CONFIG} "
            f"({' '.join(str(e).split())[:300]}); export the run again"
        ) from None
    return (
        model.eval()
    )  # on the CPU, as a run's model (map_location is the weights' staging device)


def parse_hub_source(source: str) -> tuple[str, str | None]:
    """``hf://owner/name[@revision]`` -> ``(repo_id, revision)``."""
    repo, _, revision = source[len(HUB_PREFIX) :].partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ConfigError(f"{source!r}: name a Hub repository as hf://owner/name[@revision]")
    return repo, revision or None


def model_source(source: str | Path) -> Path:
    """A local run or bundle folder for ``source``: itself, or the download of ``hf://owner/name``."""
    if not str(source).startswith(HUB_PREFIX):
        return Path(source)
    repo, revision = parse_hub_source(str(source))
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ConfigError(f"loading {source} needs huggingface_hub: {HUB_HINT}") from None
    try:
        folder = snapshot_download(repo_id=repo, revision=revision, allow_patterns=HUB_FILES)
    except Exception as e:  # the Hub client's many network, auth and not-found errors
        raise RunError(
            f"cannot download {source}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "check the repository name, the network, and HF_TOKEN for a private repository"
        ) from e
    if not is_bundle(folder):
        raise RunError(f"{source} holds no convrnn bundle ({CONFIG} is missing)")
    return Path(folder)
