"""Import sentence-transformers evaluators from their 6.x home, or from ``evaluation`` in 5.x."""

from __future__ import annotations

try:
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
        SentenceEvaluator,
    )
except ImportError:  # sentence-transformers < 6
    from sentence_transformers.evaluation import (  # type: ignore[no-redef]
        InformationRetrievalEvaluator,
        SentenceEvaluator,
    )

__all__ = ["InformationRetrievalEvaluator", "SentenceEvaluator"]
