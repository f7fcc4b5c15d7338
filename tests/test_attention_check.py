"""scripts/attention_check.py on the CPU: every implementation the CPU runs (cuDNN's is left out)
agrees with the einsum equations and is timed."""

import os
import re
import subprocess
import sys

from conftest import ROOT, subprocess_env


def test_attention_check_compares_and_times_each_cpu_implementation():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "attention_check.py")]
        + ["--batch=2", "--heads=2", "--length=96", "--head_dim=16", "--dtype=float32"]
        + ["--repeats=2"],
        cwd=ROOT,
        env=subprocess_env(1),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pattern = r"^(\w+) +([\d.]+) ms fwd\+bwd .* (ok|DISAGREES)$"
    rows = re.findall(pattern, result.stdout, re.MULTILINE)
    assert sorted(name for name, _, _ in rows) == ["blocked", "einsum", "xla"], result.stdout
    assert all(status == "ok" and float(ms) > 0 for _, ms, status in rows)
