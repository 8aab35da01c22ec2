"""Micro-batching of encoder calls: the texts of concurrent requests go through the model together.

Request threads (FastAPI runs the service's endpoints in its thread pool, off the event loop) hand
their texts to :class:`EncodeBatcher` and wait on a future. One worker thread takes the first waiting
request, gathers the requests that arrive within ``max_wait_ms`` (or until ``max_texts`` texts are
waiting; a request is never split), encodes the queries and the documents each in one call and gives
every request its own rows. Only that thread touches the encoder, so no lock is needed around it.

If a batched call fails, each request of it is encoded alone, so one bad request cannot fail the
others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from mrlkit.errors import MrlkitError

logger = logging.getLogger(__name__)

EncodeFn = Callable[[list[str], bool], np.ndarray]  # (texts, query) -> one row per text


@dataclass
class _Job:
    texts: list[str]
    query: bool
    future: Future[np.ndarray] = field(default_factory=Future)


class ShuttingDown(MrlkitError):
    """The batcher was closed; no new requests are taken."""


class EncodeBatcher:
    """Gather concurrent ``encode`` calls into one encoder call per kind (queries, documents).

    >>> batcher = EncodeBatcher(lambda texts, query: np.ones((len(texts), 2)), max_texts=8, max_wait_ms=2)
    >>> batcher.encode(["a", "b"], query=True).shape
    (2, 2)
    >>> batcher.close()
    """

    def __init__(self, encode: EncodeFn, max_texts: int = 64, max_wait_ms: float = 2.0) -> None:
        """``encode(texts, query)`` runs in the worker thread; ``max_wait_ms`` 0 takes only what is queued."""
        self._encode = encode
        self.max_texts = max_texts
        self.max_wait = max_wait_ms / 1000
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.calls = 0  # encoder calls made, for tests and logs
        self.requests = 0  # encode() calls answered

    def encode(self, texts: Sequence[str], query: bool) -> np.ndarray:
        """Rows of ``texts`` (in order), encoded together with whatever else is waiting.

        Raises:
            ShuttingDown: The batcher was closed.
        """
        job = _Job(list(texts), query)
        with self._lock:
            if self._closed:
                raise ShuttingDown("the server is shutting down; retry on another instance")
            if self._thread is None:  # started on first use: one per process (uvicorn --workers)
                self._thread = threading.Thread(target=self._run, name="mrlkit-encode", daemon=True)
                self._thread.start()
            self._jobs.put(job)
        return job.future.result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish the requests already taken, refuse new ones and stop the worker thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # ----------------------------------------------------------------- worker thread
    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry or self._jobs.get()
            carry = None
            if first is None:
                break
            batch, carry, stop = self._gather(first)
            self._answer(batch)
            if stop:
                break
        for job in [carry, *self._drain()]:
            if job is not None:
                job.future.set_exception(ShuttingDown("the server is shutting down; retry"))

    def _gather(self, first: _Job) -> tuple[list[_Job], _Job | None, bool]:
        """``first`` plus the jobs that arrive in time and fit; the job that did not fit; stop seen."""
        batch, count = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait
        while count < self.max_texts:
            remaining = deadline - time.monotonic()
            try:
                job = self._jobs.get(timeout=remaining) if remaining > 0 else self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, None, True
            if count + len(job.texts) > self.max_texts:
                return batch, job, False
            batch.append(job)
            count += len(job.texts)
        return batch, None, False

    def _drain(self) -> list[_Job | None]:
        left: list[_Job | None] = []
        while True:
            try:
                left.append(self._jobs.get_nowait())
            except queue.Empty:
                return left

    def _answer(self, batch: list[_Job]) -> None:
        for kind in (True, False):
            jobs = [job for job in batch if job.query is kind]
            if jobs:
                self._encode_group(jobs, kind)

    def _encode_group(self, jobs: list[_Job], query: bool) -> None:
        texts = [text for job in jobs for text in job.texts]
        try:
            self.calls += 1
            vectors = self._encode(texts, query)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request, never lost
            if len(jobs) > 1:
                logger.warning(
                    "batched encode of %d requests failed (%s); encoding each alone", len(jobs), exc
                )
                for job in jobs:
                    self._encode_group([job], query)
                return
            jobs[0].future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            job.future.set_result(vectors[start : start + len(job.texts)])
            start += len(job.texts)
            self.requests += 1
