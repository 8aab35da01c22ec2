"""The HTTP search service: ``mrlkit serve IDX`` (FastAPI + uvicorn, ``pip install "mrlkit[serve]"``).

>>> from mrlkit.serving import create_app, ServeConfig       # doctest: +SKIP
>>> app = create_app(ServeConfig(index="scifact.idx"))      # doctest: +SKIP
"""

from mrlkit.serving.config import ServeConfig
from mrlkit.serving.service import create_app

__all__ = ["ServeConfig", "create_app"]
