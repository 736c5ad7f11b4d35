"""Pushing a bundle folder to a Hugging Face Hub model repository (``pip install convrnn[hub]``)."""

from __future__ import annotations

from pathlib import Path

from convrnn.bundle import HUB_HINT, HUB_PREFIX, is_bundle, parse_hub_source
from convrnn.errors import ConfigError, ExportError


def push_bundle(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload the bundle in ``folder`` to the model repository ``owner/name`` (created if needed).

    Returns the ``hf://owner/name`` that :func:`convrnn.load` reads back. Credentials
    come from ``hf auth login`` or ``HF_TOKEN``, as for any Hub client.
    """
    repo_id, _ = parse_hub_source(HUB_PREFIX + repo_id.removeprefix(HUB_PREFIX))
    if not is_bundle(folder):
        raise ConfigError(
            f"{folder} is not a bundle; export one with `convrnn export RUN --out DIR`"
        )
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ConfigError(f"--push needs huggingface_hub: {HUB_HINT}") from None
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            commit_message="convrnn export: model bundle",
            ignore_patterns=[".*"],  # temporaries of atomic writes, hidden files
        )
    except Exception as e:  # the Hub client's network, auth and permission errors
        raise ExportError(
            f"cannot push to {repo_id}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; "
            "log in with `hf auth login` (or set HF_TOKEN) with write access to that repository"
        ) from e
    return HUB_PREFIX + repo_id
