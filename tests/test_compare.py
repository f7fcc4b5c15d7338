"""scripts/compare.py end to end: pretrain once, fine-tune vs scratch per budget, table and plot."""

import os
import re

import pytest
from conftest import run_script

pytestmark = pytest.mark.slow

BUDGETS = (4, 8)


def test_compare_prints_and_writes_the_table(tmp_path):
    workdir = tmp_path / "compare"
    env = dict(
        os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1"
    )
    result = run_script(
        [
            "compare.py",
            "--pretrain_config=configs/supervised_digits.py:smoke",
            "--finetune_config=configs/finetune_digits.py:smoke",
            f"--budgets={','.join(map(str, BUDGETS))}",
            "--seeds=0",
            f"--workdir={workdir}",
        ],
        env=env,
        timeout=300,
    )

    lines = result.stdout.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("| total_steps |")]
    assert len(header) == 1, result.stdout
    rows = lines[header[0] + 2 : header[0] + 2 + len(BUDGETS)]
    number = r"-?\d+\.\d+"
    for budget, row in zip(BUDGETS, rows):
        assert re.fullmatch(
            rf"\| {budget} \| {number} ± {number} \| {number} ± {number} \| [+-]\d+\.\d+ \|", row
        ), row

    with open(workdir / "compare.md") as f:
        table = f.read().splitlines()
    assert table == lines[header[0] : header[0] + 2 + len(BUDGETS)]
    with open(workdir / "compare.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    for kind in ("pretrained", "scratch"):
        for budget in BUDGETS:
            assert (workdir / f"{kind}_{budget}_seed0" / "metrics.jsonl").exists()
