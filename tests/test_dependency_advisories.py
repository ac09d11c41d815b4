"""No runtime pin has a known vulnerability, by PyPI's advisory data (the data pip-audit's default service reads).

pip-audit asks PyPI for `/pypi/<name>/<version>/json`. The registry this project reaches
answers that per-version address with 404 for every package, and pip-audit then reports
"No known vulnerabilities found" while it audited nothing (each package is only listed as
skipped). So this test reads the same advisory data itself and never passes on an
unaudited package: it takes the per-version document when the registry has it, else the
project document, whose `vulnerabilities` describe its latest release, which is then
required to be the pinned version. An unreachable registry fails the test; it does not skip.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.figures import figure

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/pypi"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def pins(path: Path) -> list[tuple[str, str]]:
    found = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-r")):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found.append((match.group(1), match.group(2)))
    return found


def fetch(url: str) -> dict[str, Any] | None:
    """The JSON document, None for a 404; any other failure fails the test loudly."""
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - fixed https URL
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise AssertionError(f"PyPI answered {exc.code} for {url}: the advisory check could not run") from exc
    except OSError as exc:
        raise AssertionError(f"PyPI is unreachable ({exc}): the advisory check could not run") from exc


def advisories(name: str, version: str) -> list[dict[str, Any]]:
    exact = fetch(f"{PYPI}/{name}/{version}/json")
    if exact is not None:
        return list(exact.get("vulnerabilities") or [])
    project = fetch(f"{PYPI}/{name}/json")
    assert project is not None, f"{name} is not on PyPI"
    assert version in project["releases"], f"{name}=={version} is not a release on PyPI"
    latest = project["info"]["version"]
    assert latest == version, (
        f"{name}=={version} cannot be audited here (the registry only describes the latest release, {latest}); "
        "move the pin to it or audit this version another way"
    )
    return list(project.get("vulnerabilities") or [])


@pytest.mark.parametrize("requirements", ["requirements.txt"])
def test_no_runtime_pin_has_a_known_vulnerability(requirements: str) -> None:
    found = {}
    packages = pins(ROOT / requirements)
    for name, version in packages:
        known = [v for v in advisories(name, version) if not v.get("withdrawn")]
        if known:
            found[f"{name}=={version}"] = [v.get("id") or v.get("aliases") for v in known]
    assert found == {}, f"known vulnerabilities: {found}"
    figure(f"\n{requirements}: {len(packages)} pins audited against PyPI's advisory data, 0 known vulnerabilities")
