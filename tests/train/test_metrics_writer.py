"""The metrics writer: metrics.jsonl and TensorBoard scalars (without importing PyTorch), and the
curves (without touching the caller's matplotlib backend)."""

import importlib.util
import json
import os
import sys

import pytest
from conftest import run_script

from jaxpretrain.train.metrics import MetricsWriter, read_metrics

# A fresh interpreter: this test process may already hold torch (the peers' tests import it).
_WRITE_AND_REPORT = """
import json, os, sys
from jaxpretrain.train.metrics import MetricsWriter
writer = MetricsWriter(sys.argv[1], total_steps=2, start_step=0)
writer.write(1, {"loss": 0.5})
writer.close()
assert "torch" not in sys.modules, "the writer imported torch"
import torch  # Importable again afterwards: nothing stays hidden.
print(json.dumps({"events": os.listdir(os.path.join(sys.argv[1], "tensorboard"))}))
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch installed")
def test_the_tensorboard_writer_does_not_import_torch(tmp_path):
    result = run_script([sys.executable, "-c", _WRITE_AND_REPORT, str(tmp_path)])
    (event_file,) = json.loads(result.stdout)["events"]
    assert b"loss" in (tmp_path / "tensorboard" / event_file).read_bytes()


def test_rows_reach_metrics_jsonl_and_tensorboard(tmp_path):
    writer = MetricsWriter(str(tmp_path), total_steps=3, start_step=0)
    writer.write(1, {"loss": 2.0, "eval/accuracy": 0.25})
    writer.write(3, {"loss": 1.0})
    writer.close()  # tensorboardX's flush() does not wait for its queue; close() does.
    assert read_metrics(str(tmp_path)) == [
        {"step": 1, "loss": 2.0, "eval/accuracy": 0.25},
        {"step": 3, "loss": 1.0},
    ]
    (event_file,) = os.listdir(tmp_path / "tensorboard")
    events = (tmp_path / "tensorboard" / event_file).read_bytes()
    assert b"loss" in events and b"eval/accuracy" in events


def test_curves_leave_the_callers_matplotlib_backend_alone(tmp_path):
    import matplotlib  # pylint: disable=import-outside-toplevel

    writer = MetricsWriter(str(tmp_path), total_steps=2, start_step=0)
    writer.write(1, {"loss": 2.0})
    writer.write(2, {"loss": 1.0})
    with matplotlib.rc_context({"backend": "svg"}):  # A caller's own choice.
        writer.close()  # Draws curves.png.
        assert matplotlib.rcParams["backend"] == "svg"
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
