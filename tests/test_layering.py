"""The layering of ../shared/DESIGN.md, read from the real import graph (scripts/import_graph.py):
no upward import and no cycle, imports inside functions included; and models/, losses/ and
methods/ know nothing of devices, meshes, checkpoints or files."""

import ast
import importlib.util
import os
import pathlib
import re
import sys
import textwrap

import pytest
from conftest import ROOT

PACKAGE = pathlib.Path(ROOT) / "jaxpretrain"
FORBIDDEN = re.compile(
    r"jax\.devices|jax\.device_put|Mesh\(|PartitionSpec|NamedSharding|shard_map|orbax|"
    r"\bopen\(|os\.path|pathlib|epath"
)


def _load_import_graph():
    spec = importlib.util.spec_from_file_location(
        "scripts_import_graph", os.path.join(ROOT, "scripts", "import_graph.py")
    )
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_graph = _load_import_graph()


def test_no_upward_imports_and_no_cycles():
    problems = import_graph.violations(import_graph.module_graph(pathlib.Path(ROOT)))
    assert not problems, "\n".join(problems)


def test_every_package_has_a_layer():
    units = {import_graph.unit_of(m) for m in import_graph.module_files(pathlib.Path(ROOT))}
    assert units - {"(root)"} <= set(import_graph.LAYER_OF)


def _tree(tmp_path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = tmp_path / "jaxpretrain" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_check_fails_on_upward_imports_inside_functions_and_on_cycles(tmp_path):
    """The checks can fail: an upward import hidden in a function, a relative import cycle
    inside one package, and a cycle between packages are each reported."""
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "data/__init__.py": "",
            "data/a.py": "from jaxpretrain.data import b\n",
            "data/b.py": "def f():\n    from . import a\n",
            "models/__init__.py": "",
            "models/m.py": "def g():\n    import jaxpretrain.train.loop\n",
            "train/__init__.py": "from jaxpretrain.train.loop import run\n",
            "train/loop.py": "from jaxpretrain.models import m\n",
        },
    )
    problems = import_graph.violations(import_graph.module_graph(root))
    assert (
        "upward: jaxpretrain.models.m:2 imports jaxpretrain.train.loop (models < train)" in problems
    )
    assert "module cycle: jaxpretrain.data.a <-> jaxpretrain.data.b" in problems
    assert "package cycle: models <-> train" in problems


def test_a_clean_tree_passes(tmp_path):
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "models/__init__.py": "from jaxpretrain.models.m import g\n",
            "models/m.py": "import jax\n\ndef g():\n    from jaxpretrain import losses\n",
            "losses/__init__.py": "",
            "train/loop.py": "from jaxpretrain.models import m\n",
        },
    )
    assert import_graph.violations(import_graph.module_graph(root)) == []


@pytest.mark.parametrize("package", ["models", "losses", "methods"])
def test_pure_packages_do_not_touch_devices_or_files(package):
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted((PACKAGE / package).glob("**/*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not offenders, "\n".join(offenders)


# Built-in exceptions a deliberate error must not be raised as: the scripts print only
# jaxpretrain.errors classes as one line (cli.run), so a bare one would reach users as a traceback.
_BARE = {"ValueError", "FileNotFoundError", "RuntimeError", "Exception"}


def test_errors_raised_on_purpose_are_jaxpretrain_errors():
    sources = [*PACKAGE.rglob("*.py"), *(pathlib.Path(ROOT) / "scripts").glob("*.py")]
    bare = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", None)
                if name in _BARE:
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}: raise {name}(...)")
    assert not bare, "use a class of jaxpretrain.errors:\n" + "\n".join(bare)
