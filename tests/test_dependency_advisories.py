"""No pinned package has a known vulnerability, by PyPI's advisory data (the data pip-audit's default service reads).

pip-audit asks PyPI for `/pypi/<name>/<version>/json`. The registry this project reaches
answers that per-version address with 404 for every package, and pip-audit then reports
"No known vulnerabilities found" while it audited nothing. So this test reads the same
advisory data itself: the per-version document when the registry has it, else the project
document, whose `vulnerabilities` describe its latest release only.

A pin with a known (not withdrawn) advisory fails the run. A pin the registry cannot describe
(an older release than the latest, with no per-version document) is reported, not failed: a
newer upstream release must not turn the suite red by the calendar. An unreachable registry
fails the test; it does not skip.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.figures import figure

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/pypi"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")
REQUIREMENTS = ["requirements.txt", "requirements-dev.txt", "bench/requirements.txt"]

Fetch = Callable[[str], dict[str, Any] | None]


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


def fetch_pypi(url: str) -> dict[str, Any] | None:
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


@dataclass
class Audit:
    audited: list[str] = field(default_factory=list)
    vulnerable: dict[str, list[Any]] = field(default_factory=dict)
    # pin -> why it could not be audited (the latest release the registry describes)
    unaudited: dict[str, str] = field(default_factory=dict)


def audit(packages: list[tuple[str, str]], fetch: Fetch) -> Audit:
    result = Audit()
    for name, version in packages:
        pin = f"{name}=={version}"
        exact = fetch(f"{PYPI}/{name}/{version}/json")
        if exact is not None:
            advisories = list(exact.get("vulnerabilities") or [])
        else:
            project = fetch(f"{PYPI}/{name}/json")
            assert project is not None, f"{name} is not on PyPI"
            assert version in project["releases"], f"{pin} is not a release on PyPI"
            latest = project["info"]["version"]
            if latest != version:
                result.unaudited[pin] = f"the registry describes only {latest}"
                continue
            advisories = list(project.get("vulnerabilities") or [])
        known = [v.get("id") or v.get("aliases") for v in advisories if not v.get("withdrawn")]
        if known:
            result.vulnerable[pin] = known
        result.audited.append(pin)
    return result


def _documents(docs: dict[str, dict[str, Any]]) -> Fetch:
    return lambda url: docs.get(url.removeprefix(PYPI + "/"))


def test_a_pin_with_a_known_advisory_is_vulnerable_and_an_older_release_is_reported() -> None:
    docs: dict[str, dict[str, Any]] = {
        "bad/json": {"info": {"version": "1.0"}, "releases": {"1.0": []}, "vulnerabilities": [{"id": "PYSEC-1"}]},
        "old/json": {"info": {"version": "2.1"}, "releases": {"2.0": [], "2.1": []}, "vulnerabilities": []},
        "exact/1.0/json": {"vulnerabilities": [{"id": "GHSA-x", "withdrawn": "2026-01-01"}]},
    }
    result = audit([("bad", "1.0"), ("old", "2.0"), ("exact", "1.0")], _documents(docs))
    assert result.vulnerable == {"bad==1.0": ["PYSEC-1"]}
    assert result.unaudited == {"old==2.0": "the registry describes only 2.1"}
    assert result.audited == ["bad==1.0", "exact==1.0"]


@pytest.mark.parametrize("requirements", REQUIREMENTS)
def test_no_pin_has_a_known_vulnerability(requirements: str) -> None:
    packages = pins(ROOT / requirements)
    result = audit(packages, fetch_pypi)
    assert result.vulnerable == {}, f"known vulnerabilities: {result.vulnerable}"
    audited = f"{len(result.audited)} of {len(packages)} pins"
    line = f"{requirements}: {audited} audited against PyPI's advisory data, 0 known"
    if result.unaudited:
        line += "; not describable here: " + ", ".join(f"{pin} ({why})" for pin, why in result.unaudited.items())
    figure(line)
