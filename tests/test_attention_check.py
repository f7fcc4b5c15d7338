"""scripts/attention_check.py on the CPU: every implementation the CPU runs (cuDNN's is left out)
agrees with the einsum equations and is timed."""

import re

from conftest import run_script


def test_attention_check_compares_and_times_each_cpu_implementation():
    result = run_script(
        ["attention_check.py", "--batch=2", "--heads=2", "--length=96", "--head_dim=16"]
        + ["--dtype=float32", "--repeats=2"]
    )
    pattern = r"^(\w+) +([\d.]+) ms fwd\+bwd .* (ok|DISAGREES)$"
    rows = re.findall(pattern, result.stdout, re.MULTILINE)
    assert sorted(name for name, _, _ in rows) == ["blocked", "einsum", "xla"], result.stdout
    assert all(status == "ok" and float(ms) > 0 for _, ms, status in rows)
