"""scripts/benchmark.py runs a registered entry and reports throughput and a plausible MFU."""

import json
import os
import subprocess
import sys

from conftest import ROOT, subprocess_env


def test_benchmark_reports_throughput_and_mfu(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "scripts", "benchmark.py"),
        "--only=supervised_digits",
        "--repeats=3",
        "--steps=2",
        "--batch_size=16",
        f"--json={out}",
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=subprocess_env(1), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "supervised_digits" in result.stdout and "ex/s (median of 3)" in result.stdout
    (entry,) = json.loads(out.read_text())
    assert entry["batch_size"] == 16 and len(entry["examples_per_sec_runs"]) == 3
    assert entry["examples_per_sec"] == sorted(entry["examples_per_sec_runs"])[1]
    # The digits ResNet's step: a few tens of MFLOP per image, counted by XLA, never zero.
    assert 1e5 < entry["step_gflops"] * 1e9 / 16 < 1e8
    assert 0 < entry["mfu"] < 1


def test_unknown_benchmark_is_an_error():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "benchmark.py"), "--only=nope"],
        cwd=ROOT,
        env=subprocess_env(1),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "unknown benchmark" in result.stderr
