"""train.op_profile: op_names read from compiled HLO, parts of the model, nesting, and a real trace
of a small network's training step attributed to its layers' forward and backward matmuls."""

import collections
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from jaxpretrain.train import op_profile


class _Net(nn.Module):
    """Two numbered blocks of a dense layer, so that both merge into ``block_*``."""

    @nn.compact
    def __call__(self, x):
        for i in range(2):
            x = _Block(name=f"block_{i}")(x)
        return x


class _Block(nn.Module):
    @nn.compact
    def __call__(self, x):
        return jnp.tanh(nn.Dense(256, name="dense")(x))


@pytest.fixture(scope="module")
def training_step():
    """(compiled step, its arguments) of a jitted SGD step of ``_Net`` on [512, 256] inputs."""
    model = _Net()
    x = jax.random.normal(jax.random.key(0), (512, 256))
    params = model.init(jax.random.key(1), x)

    def step(params, x):
        grads = jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))(params)
        return jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads)

    compiled = jax.jit(step).lower(params, x).compile()
    return compiled, (params, x)


@pytest.mark.parametrize(
    "op_name, expected",
    [
        (
            "jit(step)/transpose(jvp(GPT))/TransformerStack_0/h_3/attn/query/nj,hkj->nhk/"
            "dot_general",
            ("backward", "GPT/TransformerStack_*/h_*/attn/query"),
        ),
        (
            "jit(step)/jvp(Bert)/encoder.encode/layer_0/dropout_1/jit(_threefry_fold_in)/while",
            ("forward", "Bert/encoder.encode/layer_*/dropout_*"),
        ),
        ("jit(step)/jvp(GPT)/wte/jit(_take)/gather", ("forward", "GPT/wte")),
        (
            "jit(step)/jvp(Bert)/layer_0/dropout_1/jit(_threefry)/while/body/closed_call/add",
            ("forward", "Bert/layer_*/dropout_*"),
        ),
        ("jit(step)/jvp()/reduce_sum", ("forward", "(model)")),
        ("jit(step)/jvp(jit(_where))/select_n", ("forward", "(model)")),
        ("jit(step)/transpose(jvp(jit(_where)))/select_n", ("backward", "(model)")),
        ("jit(step)/jit(clip)/mul", ("update", "(optimizer, clipping, metrics)")),
        ("", ("update", "(optimizer, clipping, metrics)")),
    ],
)
def test_an_op_name_gives_its_phase_and_the_modules_with_layers_merged(op_name, expected):
    assert op_profile.part_of(op_name) == expected


def test_parse_hlo_finds_each_instructions_op_name_and_whether_a_fusion_holds_a_matmul():
    hlo = """HloModule m

%fused_dot (p0: f32[4,4], p1: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  ROOT %d = f32[4,4]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%fused_tanh (p0: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  ROOT %t = f32[4,4]{1,0} tanh(%p0)
}

%sum (x: f32[], y: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %y = f32[] parameter(1)
  ROOT %add = f32[] add(%x, %y)
}

%outer (p0: f32[4,4], p1: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  ROOT %inner = f32[4,4]{1,0} fusion(%p0, %p1), kind=kOutput, calls=%fused_dot
}

%loop_body (p: (f32[4,4], s32[])) -> (f32[4,4], s32[]) {
  %p = (f32[4,4]{1,0}, s32[]) parameter(0)
  %x = f32[4,4]{1,0} get-tuple-element(%p), index=0
  %step = f32[4,4]{1,0} dot(%x, %x), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_name="jit(f)/while/body/dot_general"}
  %i = s32[] get-tuple-element(%p), index=1
  ROOT %next = (f32[4,4]{1,0}, s32[]) tuple(%step, %i)
}

%loop_cond (p: (f32[4,4], s32[])) -> pred[] {
  %p = (f32[4,4]{1,0}, s32[]) parameter(0)
  %i = s32[] get-tuple-element(%p), index=1
  %n = s32[] constant(3)
  ROOT %lt = pred[] compare(%i, %n), direction=LT
}

ENTRY %main (a: f32[4,4], b: f32[4,4]) -> (f32[4,4], f32[4,4]) {
  %a = f32[4,4]{1,0} parameter(0)
  %b = f32[4,4]{1,0} parameter(1)
  %ynn_fusion.3 = f32[4,4]{1,0} fusion(%a, %b), kind=kCustom, calls=%fused_dot, metadata={op_name="jit(f)/jvp(Net)/dense/dot_general" stack_frame_id=1}
  %call.1 = (f32[4,4]{1,0}, s32[]) call(%a, %b), to_apply=%outer
  %tanh_fusion = f32[4,4]{1,0} fusion(%ynn_fusion.3), kind=kLoop, calls=%fused_tanh, metadata={op_name="jit(f)/jvp(Net)/tanh"}
  %gemm = f32[4,4]{1,0} custom-call(%a, %b), custom_call_target="__cublas$gemm"
  %ar = f32[4,4]{1,0} all-reduce(%a), to_apply=%sum
  %zero = s32[] constant(0)
  %init = (f32[4,4]{1,0}, s32[]) tuple(%a, %zero)
  %lstm = (f32[4,4]{1,0}, s32[]) while(%init), condition=%loop_cond, body=%loop_body, metadata={op_name="jit(f)/transpose(jvp(Net))/lstm/while"}
  ROOT %t = (f32[4,4]{1,0}, f32[4,4]{1,0}) tuple(%tanh_fusion, %gemm)
}
"""
    instructions = op_profile.parse_hlo(hlo)
    assert instructions["ynn_fusion.3"] == op_profile.Instruction(
        "jit(f)/jvp(Net)/dense/dot_general", "matmul"
    )
    assert instructions["call.1"].kind == "matmul"  # Through a call of a fusion of a dot.
    assert instructions["tanh_fusion"] == op_profile.Instruction("jit(f)/jvp(Net)/tanh", "other")
    assert instructions["gemm"].kind == "matmul"  # cuBLAS
    assert instructions["ar"].kind == "collective"
    assert instructions["a"] == op_profile.Instruction("", "other")
    # A loop is a matmul when its body holds one; the body's ops, which lost the model's scope,
    # take the loop's op_name, so they count in the backward pass of Net/lstm.
    assert instructions["lstm"].kind == "matmul"
    assert instructions["step"] == op_profile.Instruction(
        "jit(f)/transpose(jvp(Net))/lstm/while", "matmul"
    )
    assert op_profile.part_of(instructions["step"].op_name) == ("backward", "Net/lstm")


def _event(name, start, duration):
    return types.SimpleNamespace(name=name, start_ns=start, duration_ns=duration)


def test_an_event_inside_another_on_its_line_counts_once_within_its_parent():
    events = [_event("call", 0, 100), _event("body", 10, 50), _event("next", 100, 5)]
    top = list(op_profile._top_level(events))
    assert [e.name for e in top] == ["call", "next"]


def test_attribute_sums_each_parts_events_per_step_from_the_xla_threads_only():
    instructions = {
        "dot.1": op_profile.Instruction("jit(s)/transpose(jvp(M))/h_0/w/dot_general", "matmul"),
        "dot.2": op_profile.Instruction("jit(s)/transpose(jvp(M))/h_1/w/dot_general", "matmul"),
        "add.1": op_profile.Instruction("jit(s)/add", "other"),
    }
    line = types.SimpleNamespace
    profile = types.SimpleNamespace(
        planes=[
            types.SimpleNamespace(
                name="/host:CPU",
                lines=[
                    line(name="tf_XLAEigen/1", events=[_event("dot.1", 0, 4e6)]),
                    line(name="tf_XLAEigen/2", events=[_event("dot.2", 1e6, 2e6)]),
                    line(name="tf_XLAEigen/3", events=[_event("add.1", 0, 1e6)]),
                    line(name="python", events=[_event("dot.1", 0, 9e9)]),  # Not an XLA thread.
                ],
            )
        ]
    )
    parts = op_profile.attribute(profile, instructions, steps=2)
    assert parts[0] == op_profile.PartTime("backward", "M/h_*/w", "matmul", ms=3.0, ops=1.0)
    assert parts[1] == op_profile.PartTime(
        "update", "(optimizer, clipping, metrics)", "other", ms=0.5, ops=0.5
    )
    table = op_profile.format_profile(parts, wall_ms=2.5, top=1)
    assert "XLA ops 3.5 ms (matmul 86%, other 14%)" in table
    assert "backward matmul     M/h_*/w" in table and "1 more parts" in table
    assert "no op of the step's program was found" in op_profile.format_profile([], wall_ms=1.0)


def test_a_traced_step_is_attributed_to_its_layers_forward_and_backward_matmuls(
    training_step, tmp_path
):
    compiled, args = training_step

    def run_steps(count):
        for _ in range(count):
            out = compiled(*args)
        jax.block_until_ready(out)

    parts = op_profile.step_profile(run_steps, compiled.as_text(), 3, trace_dir=str(tmp_path))
    assert list(tmp_path.glob("**/*.xplane.pb")), "the trace is kept in trace_dir"
    ms = collections.Counter()
    for part in parts:
        ms[(part.phase, part.part, part.kind)] += part.ms
    # Two blocks of [512, 256] x [256, 256]: one dot forward, two backward (input and kernel
    # gradients) per block; the blocks merge into block_*.
    assert ms[("forward", "_Net/block_*/dense", "matmul")] > 0
    assert ms[("backward", "_Net/block_*/dense", "matmul")] > 0
    assert ms[("update", "(optimizer, clipping, metrics)", "other")] > 0
    assert not any("block_0" in part.part or "block_1" in part.part for part in parts)
    ops = {(p.phase, p.kind): p.ops for p in parts if p.part == "_Net/block_*/dense"}
    # Per step, not per trace: one forward dot per block (it may be fused with the bias add).
    assert ops[("forward", "matmul")] == 2
