"""The five service Dockerfiles, checked without a Docker engine.

A COPY of a path that is not in the repository (or that .dockerignore drops) fails the build; a
workspace member whose pyproject is not copied makes ``uv sync --frozen`` refuse the lock.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.deploy.deploy_files import (
    LAKEPULSE_SERVICES,
    REPO_ROOT,
    Instruction,
    parse_dockerfile,
    service_pyproject,
)

pytestmark = pytest.mark.unit

SPARK_SERVICES = tuple(
    service
    for service in LAKEPULSE_SERVICES
    if any(
        dep.startswith("lakepulse-common[spark]")
        for dep in service_pyproject(service)["project"]["dependencies"]
    )
)


def _instructions(service: str) -> list[Instruction]:
    return parse_dockerfile(REPO_ROOT / "services" / service / "Dockerfile")


def _copy_sources(instruction: Instruction) -> list[str]:
    words = [word for word in shlex.split(instruction.arguments) if not word.startswith("--")]
    return words[:-1]


def _dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _matches(path: str, glob: str) -> bool:
    if glob.startswith("**/"):
        parts = path.split("/")
        return any(fnmatch.fnmatch("/".join(parts[start:]), glob[3:]) for start in range(len(parts)))
    return fnmatch.fnmatch(path, glob)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern also covers what is below it."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    ignored = False
    for pattern in patterns:
        glob = pattern.removeprefix("!").strip("/")
        if any(_matches(prefix, glob) for prefix in prefixes):
            ignored = not pattern.startswith("!")
    return ignored


def _workspace_member_pyprojects() -> set[str]:
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    members: set[str] = set()
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in REPO_ROOT.glob(pattern):
            if (directory / "pyproject.toml").is_file():
                members.add(f"{directory.relative_to(REPO_ROOT).as_posix()}/pyproject.toml")
    return members


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_copies_only_paths_that_exist_and_are_in_the_build_context(service: str) -> None:
    patterns = _dockerignore_patterns()
    problems: list[str] = []
    for instruction in _instructions(service):
        if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
            continue
        for source in _copy_sources(instruction):
            if not any(REPO_ROOT.glob(source)):
                problems.append(f"line {instruction.line}: {source} does not exist")
            elif _ignored(source, patterns):
                problems.append(f"line {instruction.line}: {source} is excluded by .dockerignore")
    assert not problems, "\n".join(problems)


def test_dockerignore_check_can_fail() -> None:
    patterns = _dockerignore_patterns()
    assert _ignored(".venv/bin/python", patterns)
    assert _ignored("libs/common/src/lakepulse_common/__pycache__/x.pyc", patterns)
    assert not _ignored("libs/common", patterns)
    assert not _ignored("deploy/maven/spark/pom.xml", patterns)


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_copies_every_workspace_member_pyproject(service: str) -> None:
    """``uv sync --frozen`` reads every member of the workspace to trust the lock."""
    copied = {
        source
        for instruction in _instructions(service)
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments
        for source in _copy_sources(instruction)
    }
    missing = sorted(_workspace_member_pyprojects() - copied)
    assert not missing, f"not copied before `uv sync`: {missing}"
    assert {"pyproject.toml", "uv.lock"} <= copied


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_installs_only_its_own_package_from_the_lock(service: str) -> None:
    package = service_pyproject(service)["project"]["name"]
    syncs = [i.arguments for i in _instructions(service) if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert syncs, "no `uv sync` step"
    for command in syncs:
        assert "--frozen" in command and "--no-dev" in command, command
        assert f"--package {package}" in command, command
    assert "--all-packages" not in " ".join(syncs)


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_runs_unprivileged_and_stops_on_sigterm(service: str) -> None:
    instructions = _instructions(service)
    final_stage = instructions[max(n for n, i in enumerate(instructions) if i.keyword == "FROM") :]
    keywords = {i.keyword: i.arguments for i in final_stage}
    assert keywords.get("USER") not in (None, "root", "0"), "the runtime stage must drop root"
    assert keywords.get("STOPSIGNAL") == "SIGTERM"
    assert "HEALTHCHECK" in keywords
    assert final_stage[0].arguments.startswith("python:3.11-slim-bookworm")


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_base_images_are_pinned(service: str) -> None:
    instructions = _instructions(service)
    stages = {
        i.arguments.split()[-1] for i in instructions if i.keyword == "FROM" and " AS " in i.arguments.upper()
    }
    for instruction in instructions:
        if instruction.keyword != "FROM":
            continue
        image = instruction.arguments.split()[0]
        if image in stages:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), (
            f"line {instruction.line}: {image} is not pinned"
        )


@pytest.mark.parametrize("service", SPARK_SERVICES)
def test_spark_service_images_carry_java_and_the_build_time_jars(service: str) -> None:
    instructions = _instructions(service)
    text = "\n".join(f"{i.keyword} {i.arguments}" for i in instructions)
    assert "openjdk-17-jre-headless" in text
    assert "maven:3.9-eclipse-temurin-17" in text
    assert "deploy/maven/spark/pom.xml" in text and "dependency:copy-dependencies" in text
    jar_copy = next(i for i in instructions if i.keyword == "COPY" and i.arguments.startswith("--from=jars"))
    jars_path = jar_copy.arguments.split()[-1]
    env = " ".join(i.arguments for i in instructions if i.keyword == "ENV")
    assert f"LAKEPULSE_SPARK__JARS_DIR={jars_path}" in env, "spark.jars_dir must point at the copied jars"


def test_spark_services_are_the_three_pipeline_stages() -> None:
    assert set(SPARK_SERVICES) == {"bronze-writer", "silver-processor", "gold-builder"}
