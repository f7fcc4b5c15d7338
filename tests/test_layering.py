"""models/, losses/ and methods/ know nothing of devices, meshes, checkpoints or files."""

import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jaxpretrain"
FORBIDDEN = re.compile(
    r"jax\.devices|jax\.device_put|Mesh\(|PartitionSpec|NamedSharding|shard_map|orbax|"
    r"\bopen\(|os\.path|pathlib|epath"
)


@pytest.mark.parametrize("package", ["models", "losses", "methods"])
def test_pure_packages_do_not_touch_devices_or_files(package):
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted((PACKAGE / package).glob("**/*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not offenders, "\n".join(offenders)
