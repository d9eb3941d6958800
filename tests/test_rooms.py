"""The rules between rooms (DESIGN.md) hold in the code, not only on paper."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "y7deploy"
WORKSTATION_ONLY = ("y7deploy.model", "y7deploy.train", "y7deploy.data", "torch", "torchvision",
                    "onnx", "onnxruntime", "numpy", "cv2")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def room_files(room: str) -> list[Path]:
    return sorted((PACKAGE / room).rglob("*.py"))


def violates(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("path", room_files("fleet"), ids=lambda p: p.name)
def test_fleet_never_imports_the_workstation_half(path: Path) -> None:
    assert not [n for n in imports_of(path) if violates(n, WORKSTATION_ONLY)]


def test_only_the_cli_knows_the_lab() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "cli") and not path.is_relative_to(PACKAGE / "lab")
        and any(violates(n, ("y7deploy.lab",)) for n in imports_of(path))
    ]
    assert offenders == []


@pytest.mark.parametrize("path", room_files("model"), ids=lambda p: p.name)
def test_model_knows_nothing_of_the_fleet(path: Path) -> None:
    assert not [n for n in imports_of(path) if violates(n, ("y7deploy.fleet", "y7deploy.lab"))]


@pytest.mark.parametrize("path", room_files("deploy"), ids=lambda p: p.name)
def test_deploy_never_imports_the_workstation_half_or_the_lab(path: Path) -> None:
    assert not [n for n in imports_of(path) if violates(n, WORKSTATION_ONLY + ("y7deploy.lab",))]


@pytest.mark.parametrize("path", room_files("fleet"), ids=lambda p: p.name)
def test_fleet_never_imports_deploy(path: Path) -> None:
    assert not [n for n in imports_of(path) if violates(n, ("y7deploy.deploy",))]


def test_release_bundles_are_readable_without_torch() -> None:
    assert not [n for n in imports_of(PACKAGE / "release.py") if violates(n, WORKSTATION_ONLY)]


def test_a_push_side_process_loads_no_torch() -> None:
    """Importing the fleet and the CLI must not pull torch in: the core install has none."""
    code = ("import sys, y7deploy.cli, y7deploy.release, y7deploy.fleet.runner, y7deploy.fleet.inventory,"
            " y7deploy.deploy.plan, y7deploy.deploy.health, y7deploy.deploy.ledger, y7deploy.deploy.state;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'cv2', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
