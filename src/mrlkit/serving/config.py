"""Settings of the search service, checked before it starts (bind address vs API key, limits)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mrlkit.errors import ConfigError

API_KEY_ENV = "MRLKIT_API_KEY"
CONFIG_ENV = "MRLKIT_SERVE_CONFIG"  # JSON ServeConfig handed to worker processes


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class ServeConfig:
    """Everything ``mrlkit serve`` needs; limits turn oversized requests into 413/422 with a reason."""

    index: str = _help("The index folder.", default="")
    host: str = _help("Address to bind; anything but loopback requires an API key.", default="127.0.0.1")
    port: int = _help("TCP port.", default=8000)
    api_key: str | None = _help(
        f"Key clients send (Authorization: Bearer / X-API-Key); or ${API_KEY_ENV}.", default=None
    )
    rerank_model: str | None = _help("Cross-encoder for requests with rerank: true.", default=None)
    rerank_weight: float | None = _help(
        "Reranker's share of the score against the first stage's, in [0, 1] (default: the weight "
        "mrlkit train-reranker stored with the model, else 1).",
        default=None,
    )
    workers: int = _help("Server processes (each loads the index).", default=1)
    max_body_bytes: int = _help("Largest request body accepted.", default=1 << 20)
    max_batch: int = _help("Most queries or texts per request.", default=64)
    max_text_chars: int = _help("Longest query or text, in characters.", default=4096)
    max_k: int = _help("Largest k.", default=1000)
    model: str | None = _help("Query with this copy of the index's model.", default=None)
    batching: bool = _help(
        "Encode the texts of concurrent /search and /embed requests together, in one encoder call.",
        default=True,
    )
    batch_max_texts: int = _help("Most texts in one batched encoder call.", default=64)
    batch_wait_ms: float = _help(
        "How long the first waiting request waits for others to join its batch, in milliseconds.",
        default=2.0,
    )
    model_backend: str | None = _help(
        "torch or onnx (the model's mrlkit export --onnx folder); default: the index's.", default=None
    )

    def __post_init__(self) -> None:
        """Check limits and the bind address / API key rule."""
        if self.rerank_weight is not None:
            from mrlkit.search.rerank import check_weight

            check_weight(self.rerank_weight)
        for name in ("port", "workers", "max_body_bytes", "max_batch", "max_text_chars", "max_k"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"serve {name} must be > 0, got {getattr(self, name)!r}")
        if self.batch_max_texts <= 0 or not 0 <= self.batch_wait_ms <= 1000:
            raise ConfigError(
                f"serve batch_max_texts must be > 0 and batch_wait_ms in [0, 1000], got "
                f"{self.batch_max_texts!r} and {self.batch_wait_ms!r}"
            )
        if self.api_key is not None and len(self.api_key) < 16:
            raise ConfigError("the API key is shorter than 16 characters; use a long random one")
        if not self.api_key and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to bind {self.host} without an API key: pass --api-key-file FILE or set "
                f"${API_KEY_ENV} (or bind 127.0.0.1)"
            )

    def to_json(self) -> dict[str, Any]:
        """JSON form (with the key: only for handing to worker processes through the environment)."""
        return asdict(self)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_key(key_file: str | Path | None) -> str | None:
    """The API key from ``key_file`` (first line), else ``$MRLKIT_API_KEY``, else ``None``.

    Raises:
        ConfigError: The file is missing or empty.
    """
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise ConfigError(f"API key file {path} not found")
        key = path.read_text(encoding="utf-8").strip().splitlines()
        if not key or not key[0].strip():
            raise ConfigError(f"API key file {path} is empty; put the key on its first line")
        return key[0].strip()
    return os.environ.get(API_KEY_ENV) or None
