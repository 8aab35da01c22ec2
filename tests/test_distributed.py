"""Two CPU processes on gloo: torchrun trains with DDP and rank 0 alone writes one model and one report."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer

PAIRS = str(FIXTURES / "data" / "pairs.jsonl")


SHARE_SCRIPT = """
import json, sys, torch.distributed as dist
from mrlkit.training.distributed import init_distributed, is_main_process, on_main_then_share
init_distributed()
calls = []
rank = dist.get_rank()
got = on_main_then_share(lambda: calls.append(rank) or {"mined_by": rank, "rows": [1, 2]})
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:  # not stdout: a launcher may swallow it
    json.dump([dist.get_rank(), got, calls, is_main_process()], f)
"""


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _launch(args: list[str], timeout: int = 300, launcher: str = "torchrun") -> subprocess.CompletedProcess:
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    else:  # --multi_gpu selects accelerate's torchrun launcher; without a GPU mrlkit runs DDP on gloo
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += ["--main_process_port", _free_port()]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # these tests are about gloo on CPUs
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_on_main_then_share_runs_once_and_gives_every_rank_the_same_result(tmp_path):
    script = tmp_path / "share.py"
    script.write_text(SHARE_SCRIPT)
    proc = _launch([str(script), str(tmp_path)], timeout=120)
    log = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, log
    results = sorted(json.loads(p.read_text()) for p in tmp_path.glob("rank*.json"))
    assert results == [
        [0, {"mined_by": 0, "rows": [1, 2]}, [0], True],
        [1, {"mined_by": 0, "rows": [1, 2]}, [], False],  # rank 1 did not run it and got rank 0's result
    ], log


@pytest.mark.parametrize("launcher", ["torchrun", pytest.param("accelerate", marks=pytest.mark.slow)])
def test_two_cpu_processes_write_one_model_and_one_report(launcher, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    args = ["-m", "mrlkit", "finetune", "--data", PAIRS, "--model", tiny_model_path, "--output-dir", str(out)]
    args += ["--epochs", "2", "--batch-size", "4", "--dims", "64,32", "--learning-rate", "1e-3"]
    proc = _launch(args, launcher=launcher)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # printed once (rank 0), not once per process
    assert proc.stdout.count("base model ndcg@10") == 1, log[-4000:]
    assert proc.stdout.count("model: ") == 1 and proc.stdout.count("trains on 14 rows") == 1
    # one model, one report, one config, one metrics file with one line per evaluation
    assert (out / "model" / "model.safetensors").is_file() and (out / "report.json").is_file()
    records = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "eval_dev_dim32_ndcg@10" in r] == [1.0, 2.0]
    # the two processes shared the data: 14 rows, 4 per process and step, last batch dropped
    # -> 1 step per epoch (one process at batch 4 takes 4)
    state = json.loads(max((out / "checkpoints").glob("checkpoint-*/trainer_state.json")).read_text())
    assert state["global_step"] == 2 and state["train_batch_size"] == 4
    # the saved model is the trained one, with plain (not DDP-wrapped) weight names
    tuned = SentenceTransformer(str(out / "model"), device="cpu").encode(["a query"], convert_to_tensor=True)
    base = SentenceTransformer(tiny_model_path, device="cpu").encode(["a query"], convert_to_tensor=True)
    assert tuned.shape == (1, 64) and not torch.allclose(tuned, base)
