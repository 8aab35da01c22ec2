"""Search backends beside the built-in index: Qdrant (``pip install "mrlkit[qdrant]"``)."""
