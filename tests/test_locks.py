"""The hashed lock files agree with pyproject.toml: every dependency the project declares is
locked at a version its range admits, every locked line carries hashes, and what the bot needs
is locked at the same version for deployments (solbot.lock) as for the tests (dev.lock). A
range edited without `requirements/relock` fails here, not on a deployment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKED = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def locked(name: str) -> dict[str, str]:
    """Package → version of a lock file, checking that each entry is hashed."""
    versions: dict[str, str] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements" / name).read_text())
    for entry in entries:
        match = LOCKED.match(entry)
        if match is None:
            continue
        assert "--hash=sha256:" in entry, f"{name}: {match[1]} has no hash"
        versions[canonicalize_name(match[1])] = match[2]
    return versions


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(("lock", "extras"), [("solbot.lock", ()), ("dev.lock", ("dev",))])
def test_each_declared_dependency_is_locked_inside_its_range(
    lock: str, extras: tuple[str, ...]
) -> None:
    versions = locked(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in versions, f"{lock} does not lock {name}: run requirements/relock"
        assert requirement.specifier.contains(versions[name], prereleases=True), (
            f"{lock} locks {name}=={versions[name]}, outside {requirement.specifier}: "
            "run requirements/relock"
        )


def test_deployments_run_what_the_tests_ran() -> None:
    bot, dev = locked("solbot.lock"), locked("dev.lock")
    differ = {name: (v, dev.get(name)) for name, v in bot.items() if dev.get(name) != v}
    assert not differ, f"solbot.lock and dev.lock disagree: {differ}"


def test_ranges_are_ranges_with_an_upper_bound() -> None:
    """A bare `>=` lets a new major release in untested; an `==` blocks every fix (the locks pin).
    ruff is pinned on purpose: its formatting changes between releases."""
    for requirement in declared("dev", "bench"):
        operators = {spec.operator for spec in requirement.specifier}
        if requirement.name == "ruff":
            assert operators == {"=="}
            continue
        assert operators == {">=", "<"}, f"{requirement}: use a range like >=X.Y,<X+1"
