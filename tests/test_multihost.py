"""Two hosts on one machine: `jax.distributed` over localhost, CPU collectives through gloo.

Each process owns one CPU device, so the global mesh has two devices, one per process; each
process reads its own half of every batch (DESIGN.md, "Devices, sharding, scale"). The run must
match a single-process run of the same config, up to float reduction order.
"""

import os
import re
import signal
import socket
import subprocess
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, subprocess_env, train_command

from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.metrics import read_metrics

TOTAL_STEPS = 6
TIMEOUT_S = 180
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(workdir) -> list[str]:
    return train_command(workdir, f"--config.total_steps={TOTAL_STEPS}")


def _communicate(procs, logs):
    """Wait for every process; on a timeout kill them all so a hang fails instead of blocking."""
    try:
        for proc in procs:
            proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"timed out after {TIMEOUT_S}s:\n"
            + "\n".join(f"--- {log}:\n{open(log).read()[-3000:]}" for log in logs)
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, f"{log} (rc={proc.returncode}):\n{open(log).read()[-4000:]}"


def test_two_processes_match_one(tmp_path):
    multi, single = tmp_path / "multi", tmp_path / "single"
    address = f"127.0.0.1:{_free_port()}"
    procs, logs = [], []
    for process_id in range(2):
        log = tmp_path / f"process{process_id}.log"
        env = subprocess_env(
            1, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=process_id
        )
        with open(log, "w") as f:
            procs.append(
                subprocess.Popen(
                    _command(multi), cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT
                )
            )
        logs.append(log)
    # The reference: one process with two devices (the same 2-way data-parallel mesh).
    log = tmp_path / "single.log"
    with open(log, "w") as f:
        procs.append(
            subprocess.Popen(
                _command(single),
                cwd=ROOT,
                env=subprocess_env(2),
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        )
    logs.append(log)
    _communicate(procs, logs)

    got, want = restore_params(str(multi)), restore_params(str(single))
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=jax.tree_util.keystr(path))

    multi_rows, single_rows = read_metrics(str(multi)), read_metrics(str(single))
    # Only process 0 writes metrics: one row per logged step, not two.
    assert [r["step"] for r in multi_rows] == [r["step"] for r in single_rows]
    assert multi_rows[-1]["step"] == TOTAL_STEPS
    for a, b in zip(multi_rows, single_rows):
        for key in ("loss", "accuracy", "grad_norm", "eval/loss", "eval/accuracy"):
            if key in b:
                np.testing.assert_allclose(
                    a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=f"{key} at step {a['step']}"
                )
    assert sorted(os.listdir(multi / "checkpoints")) == sorted(os.listdir(single / "checkpoints"))


def test_sigterm_to_one_host_checkpoints_the_same_step_on_both(tmp_path):
    """A pod's preemption notice reaches one host; JAX's preemption service makes every host stop
    after the same step, which is checkpointed once (train.preemption)."""
    workdir = tmp_path / "run"
    address = f"127.0.0.1:{_free_port()}"
    command = train_command(
        workdir,
        "--config.total_steps=5000",  # Far more than the test waits for.
        "--config.checkpoint_every=10000",
        "--config.log_every=5",
        "--config.eval_every=0",
    )
    procs, logs = [], []
    for process_id in range(2):
        logs.append(tmp_path / f"process{process_id}.log")
        env = subprocess_env(
            1, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES=2, JAX_PROCESS_ID=process_id
        )
        with open(logs[-1], "w") as f:
            procs.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
            )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        metrics = workdir / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert all(p.poll() is None for p in procs), open(logs[0]).read()[-3000:]
            assert time.monotonic() < deadline, "no training steps before the timeout"
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGTERM)  # Not the coordinator: the notice must travel.
        for proc in procs:
            proc.wait(timeout=TIMEOUT_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stops = []
    for proc, log in zip(procs, logs):
        text = open(log).read()
        assert proc.returncode == 128 + signal.SIGTERM, text[-3000:]
        stops += re.findall(r"stopped: SIGTERM after step (\d+) of 5000", text)
    assert len(stops) == 2 and stops[0] == stops[1], stops
    assert sorted(os.listdir(workdir / "checkpoints")) == [stops[0]]
