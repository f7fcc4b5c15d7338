"""Where a compiled step's time goes: the XLA ops of a profiler trace, attributed to the parts of
the model that made them.

XLA names every instruction of a compiled program (``fusion.12``, ``dot.3``) and keeps, in its
metadata, the ``op_name`` of the JAX operation it came from: the path of named scopes, e.g.
``jit(step)/transpose(jvp(GPT))/TransformerStack_0/h_3/attn/query/nj,hkj->nhk/dot_general`` (flax
modules name scopes; ``jvp`` is the forward pass, ``transpose(jvp(...))`` the backward pass). A
profiler trace records one event per executed instruction, named after it: on the CPU on each of
XLA's worker threads, on a GPU on the device's "XLA Ops" line. ``step_profile`` adds the events'
durations up per (phase, part, kind):

- phase: "forward", "backward" or "update" (the rest of the step: optimizer, clipping, metrics);
- part: the module path, with layer numbers merged (``h_3`` -> ``h_*``) so that the layers of a
  stack add up, and the einsum specifications, ``jit(...)`` wrappers, JAX's own scopes
  (``while/body``, ``remat``...) and the primitive dropped;
- kind: "matmul" (a dot or convolution, alone or fused), "collective" or "other".

The sums run over every device the process drives (a data-parallel step counts once per device)
and, on the CPU, over XLA's threads: XLA runs independent instructions on its threads at once, so
the parts may add up to more than the step's wall time; the shares are what to compare. An event
that lies inside another on the same thread or line (the body of a ``call``) counts once, within
its parent. Times are per step: the trace's totals divided by the steps traced.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import glob
import os
import re
import tempfile
from typing import Callable, Iterable

import jax

from jaxpretrain.errors import NotFoundError

MATMUL_OPCODES = frozenset({"dot", "convolution"})
COLLECTIVE_OPCODES = frozenset(
    {
        "all-reduce",
        "all-reduce-start",
        "all-gather",
        "all-gather-start",
        "reduce-scatter",
        "all-to-all",
        "collective-permute",
        "collective-permute-start",
    }
)
# Custom calls that are matmuls: cuBLAS, cuDNN convolutions, oneDNN.
_MATMUL_TARGET = re.compile(r"gemm|matmul|conv", re.IGNORECASE)

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\s([\w\-]+)\(")
_CALLS = re.compile(
    r"(?:calls|to_apply|body|condition|true_computation|false_computation)=%?([\w.\-]+)"
)
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")
_TARGET = re.compile(r'custom_call_target="([^"]*)"')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_PHASED = re.compile(r"(?:^|/)(?:transpose\()?jvp\(")  # An op_name inside the model.
_WRAPPER = re.compile(r"(transpose\()?jvp\((.*?)\)\)?")  # jvp(GPT), transpose(jvp(GPT))
_LAYER_NUMBER = re.compile(r"_\d+$")
_MODULE_NAME = re.compile(r"^[A-Za-z_][\w.]*$")
# Scopes JAX's own transformations add inside a module (loops, calls, rematerialisation).
_JAX_SCOPES = frozenset(
    {"while", "body", "cond", "closed_call", "core_call", "scan", "remat", "checkpoint", "pjit"}
)


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One instruction of a compiled HLO module: its ``op_name`` ('' if none) and kind."""

    op_name: str
    kind: str


@dataclasses.dataclass(frozen=True)
class PartTime:
    """Time per step of one (phase, part, kind): ``ms`` summed over ``ops`` executions a step."""

    phase: str
    part: str
    kind: str
    ms: float
    ops: float


def _callees(line: str) -> list[str]:
    """The computations an instruction's line calls (fusions, calls, loops, conditionals)."""
    names = _CALLS.findall(line)
    for branches in _BRANCHES.findall(line):
        names += [b.strip().lstrip("%") for b in branches.split(",")]
    return names


def parse_hlo(hlo_text: str) -> dict[str, Instruction]:
    """Instruction name -> ``Instruction`` of every instruction in ``compiled.as_text()``.

    A fusion (or call) is a "matmul" when the computation it calls holds a dot or convolution,
    directly or through further calls; a custom call when its target names a gemm, matmul or conv.
    """
    opcodes: dict[str, set[str]] = collections.defaultdict(set)  # computation -> its opcodes
    callees: dict[str, set[str]] = collections.defaultdict(set)  # computation -> computations
    caller: dict[str, str] = {}  # computation -> the first instruction that calls it
    lines: list[tuple[str, str, str, str, list[str]]] = []  # (name, opcode, home, line, calls)
    computation = ""
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header and not line.startswith(" "):
            computation = header.group(1)
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, opcode = match.groups()
        target = _TARGET.search(line)
        if opcode == "custom-call" and target and _MATMUL_TARGET.search(target.group(1)):
            opcode = "dot"
        calls = _callees(line)
        opcodes[computation].add(opcode)
        callees[computation].update(calls)
        for callee in calls:
            caller.setdefault(callee, name)
        lines.append((name, opcode, computation, line, calls))

    @functools.cache
    def reach(computation: str) -> frozenset[str]:
        """The opcodes of ``computation`` and of every computation it calls (HLO's calls form
        no cycle)."""
        found = set(opcodes.get(computation, ()))
        for callee in callees.get(computation, ()):
            found |= reach(callee)
        return frozenset(found)

    own_op_name = {name: _op_name(line) for name, _, _, line, _ in lines}
    home = {name: computation for name, _, computation, _, _ in lines}

    def op_name_of(name: str) -> str:
        """The instruction's op_name, or, inside a loop body or call whose instructions lost
        theirs (XLA's, or a scan's backward), the op_name of the instruction calling it."""
        if _PHASED.search(own_op_name[name]) or home[name] not in caller:
            return own_op_name[name]
        inherited = op_name_of(caller[home[name]])
        return inherited if _PHASED.search(inherited) else own_op_name[name]

    instructions = {}
    for name, opcode, _, _, calls in lines:
        inside = {opcode}.union(*(reach(callee) for callee in calls))
        if opcode in COLLECTIVE_OPCODES:  # Its to_apply is the reduction, not work of its own.
            kind = "collective"
        elif inside & MATMUL_OPCODES:
            kind = "matmul"
        elif inside & COLLECTIVE_OPCODES:
            kind = "collective"
        else:
            kind = "other"
        instructions[name] = Instruction(op_name_of(name), kind)
    return instructions


def _op_name(line: str) -> str:
    match = _OP_NAME.search(line)
    return match.group(1) if match else ""


def part_of(op_name: str) -> tuple[str, str]:
    """(phase, part) of an ``op_name`` (module docstring), e.g.
    ``jit(step)/transpose(jvp(GPT))/TransformerStack_0/h_3/attn/query/nj,hkj->nhk/dot_general``
    -> ("backward", "GPT/TransformerStack_*/h_*/attn/query")."""
    segments = op_name.split("/")[:-1]  # The last one is the primitive.
    for index, segment in enumerate(segments):
        wrapped = _WRAPPER.fullmatch(segment)
        if wrapped:
            phase = "backward" if wrapped.group(1) else "forward"
            root = wrapped.group(2)  # GPT in jvp(GPT); not jit(_where) in jvp(jit(_where)).
            modules = [root] if _MODULE_NAME.match(root) else []
            modules += [
                s for s in segments[index + 1 :] if _MODULE_NAME.match(s) and s not in _JAX_SCOPES
            ]
            return phase, "/".join(_LAYER_NUMBER.sub("_*", m) for m in modules) or "(model)"
    return "update", "(optimizer, clipping, metrics)"


def _top_level(events: Iterable) -> Iterable:
    """The events not nested in an earlier one (one thread's or line's events)."""
    end = None
    for event in sorted(events, key=lambda e: (e.start_ns, -e.duration_ns)):
        if end is None or event.start_ns >= end:
            end = event.start_ns + event.duration_ns
            yield event


def attribute(profile, instructions: dict[str, Instruction], steps: int) -> list[PartTime]:
    """``PartTime``s of a ``jax.profiler.ProfileData`` whose events name ``instructions``,
    largest first. Device planes are used when the trace has any ("XLA Ops" lines), else the
    host's XLA threads."""
    planes = [p for p in profile.planes if p.name.startswith("/device:")]
    lines = [line for p in planes for line in p.lines if line.name == "XLA Ops"]
    if not lines:
        lines = [line for p in profile.planes for line in p.lines if line.name.startswith("tf_XLA")]
    total_ns = collections.Counter()
    count = collections.Counter()
    for line in lines:
        named = [e for e in line.events if e.name.lstrip("%") in instructions]
        for event in _top_level(named):
            instruction = instructions[event.name.lstrip("%")]
            key = (*part_of(instruction.op_name), instruction.kind)
            total_ns[key] += event.duration_ns
            count[key] += 1
    parts = [
        PartTime(phase, part, kind, ns / 1e6 / steps, count[(phase, part, kind)] / steps)
        for (phase, part, kind), ns in total_ns.items()
    ]
    return sorted(parts, key=lambda p: -p.ms)


def step_profile(
    run_steps: Callable[[int], object], hlo_text: str, steps: int, trace_dir: str | None = None
) -> list[PartTime]:
    """Traces ``run_steps(steps)`` (which must wait for its results) and attributes the time of
    the program ``hlo_text`` (``compiled.as_text()`` of the step it runs) to its parts.

    ``trace_dir`` keeps the trace (for TensorBoard's or Perfetto's viewers); None uses a
    temporary directory.
    """
    with tempfile.TemporaryDirectory() as scratch:
        directory = trace_dir or scratch
        jax.profiler.start_trace(directory)
        try:
            run_steps(steps)
        finally:
            jax.profiler.stop_trace()
        paths = glob.glob(os.path.join(directory, "**", "*.xplane.pb"), recursive=True)
        if not paths:
            raise NotFoundError(f"jax.profiler wrote no *.xplane.pb trace under {directory}.")
        newest = max(paths, key=os.path.getmtime)
        profile = jax.profiler.ProfileData.from_file(newest)
        return attribute(profile, parse_hlo(hlo_text), steps)


def format_profile(parts: list[PartTime], *, wall_ms: float, top: int = 25) -> str:
    """A table of the ``top`` largest parts with their share of all attributed time."""
    if not parts:
        return "  no op of the step's program was found in the trace"
    total = sum(p.ms for p in parts) or 1.0
    by_kind = collections.Counter()
    for p in parts:
        by_kind[p.kind] += p.ms
    kinds = ", ".join(f"{kind} {100 * ms / total:.0f}%" for kind, ms in by_kind.most_common())
    rows = [
        f"  step {wall_ms:.1f} ms wall; XLA ops {total:.1f} ms ({kinds})",
        f"  {'ms/step':>8s} {'share':>6s} {'ops':>6s}  {'phase':8s} {'kind':10s} part",
    ]
    rows += [
        f"  {p.ms:8.2f} {100 * p.ms / total:5.1f}% {p.ops:6.0f}  {p.phase:8s} {p.kind:10s} {p.part}"
        for p in parts[:top]
    ]
    if len(parts) > top:
        rest = sum(p.ms for p in parts[top:])
        rows.append(f"  {rest:8.2f} {100 * rest / total:5.1f}%  ... {len(parts) - top} more parts")
    return "\n".join(rows)
