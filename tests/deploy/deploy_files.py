"""Readers for the deploy tests: compose.yaml, the Dockerfiles, and the settings model.

No Docker engine runs in CI, so these files are checked structurally: everything here is pure parsing.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lakepulse_common.settings import ENV_PREFIX, NESTED_DELIMITER, LakePulseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
LAKEPULSE_SERVICES = ("cdc-emitter", "bronze-writer", "silver-processor", "gold-builder", "control-api")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    arguments: str
    line: int


def parse_dockerfile(path: Path) -> list[Instruction]:
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(part for part in pending if part).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, f"{path}: dangling line continuation at line {start}"
    return instructions


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (also through ``X | None``), or None for a leaf field."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for member in typing.get_args(annotation):
            model = _nested_model(member)
            if model is not None:
                return model
    return None


def _is_mapping(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict or annotation is dict


def settings_env_error(name: str, model: type[BaseModel] = LakePulseSettings) -> str | None:
    """Why ``name`` is not a LakePulse settings variable, or None when it names a real field.

    Mirrors pydantic-settings: prefix ``LAKEPULSE_``, sections split on ``__``, case-insensitive.
    A ``dict`` field accepts one further key (``LAKEPULSE_SPARK__EXTRA_CONF__<key>``).
    """
    if not name.upper().startswith(ENV_PREFIX):
        return f"{name}: does not start with {ENV_PREFIX}"
    parts = name[len(ENV_PREFIX) :].lower().split(NESTED_DELIMITER)
    current: type[BaseModel] = model
    for index, part in enumerate(parts):
        field = current.model_fields.get(part)
        if field is None:
            where = ".".join(parts[:index]) or current.__name__
            return f"{name}: {where} has no field {part!r} (fields: {sorted(current.model_fields)})"
        nested = _nested_model(field.annotation)
        rest = parts[index + 1 :]
        if nested is not None:
            if not rest:
                return f"{name}: {part!r} is a section, not a value; name one of its fields"
            current = nested
            continue
        if not rest or (_is_mapping(field.annotation) and len(rest) == 1):
            return None
        return f"{name}: {part!r} is a value, it has no field {rest[0]!r}"
    return f"{name}: empty variable name"


_INTERPOLATION = re.compile(r"\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def interpolate(value: str, environment: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` interpolation; ``$$`` escapes ``$``."""

    def substitute(match: re.Match[str]) -> str:
        var, op, arg = match.group("var"), match.group("op"), match.group("arg")
        current = environment.get(var)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            if not current:
                raise KeyError(f"{var} must be set: {arg}")
            return current
        if current is None:
            raise KeyError(f"{var} is referenced without a default")
        return current

    escaped = value.replace("$$", "\0")
    return _INTERPOLATION.sub(substitute, escaped).replace("\0", "$")


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping, whichever of the two compose forms it uses."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def service_pyproject(service: str) -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "services" / service / "pyproject.toml").read_text())
