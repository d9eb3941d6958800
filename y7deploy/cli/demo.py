"""`y7deploy demo`: the whole path on this machine, as the commands a user would type.

Labelled images in CVAT's format become a trained detector and a release bundle, which
is rolled out to a lab fleet of simulated Jetsons, then a second version in waves, then
rolled back. Each step is a real `y7deploy` command run as its own process in the demo's
folder and echoed first, so the demo doubles as a walk-through; everything it makes
stays under that folder (the fleet's ledger too). The lab is torn down at the end,
whatever happened before.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import yaml

DEMO_LAB = "y7demo"
# Three hosts, two of one device class (an engine built once is copied to the other)
# and one of another, so the first wave holds one canary per class.
DEMO_PROFILES = ("orin-nano-jp61", "orin-nano-jp61", "xavier-nx-jp513")
CAMERA = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"


@dataclass(frozen=True)
class Settings:
    images: int
    img_size: int
    epochs: int
    more_epochs: int
    health_window: int  # seconds of **PERF: lines at or above the floor before a host commits


FULL = Settings(images=60, img_size=320, epochs=3, more_epochs=2, health_window=10)
QUICK = Settings(images=16, img_size=64, epochs=1, more_epochs=1, health_window=3)


@dataclass(frozen=True)
class Step:
    title: str
    commands: list[list[str] | Callable[[Path], str]]  # y7deploy arguments, or a file the user would write


def register(cli: click.Group) -> None:
    cli.add_command(demo)


def plan(s: Settings, lab: str, work: Path) -> list[Step]:
    """The demo's steps; paths are relative to the demo folder, where every command runs."""
    data, inv, releases = "datasets/shapes/data.yaml", "inventory", "releases"
    train = ["train", "--data", data, "--cfg", "yolov7-tiny", "--batch-size", "8", "--img-size", str(s.img_size),
             "--device", "cpu", "--workers", "1", "--project", "runs/train", "--exist-ok"]
    export = ["export", "--name", "shapes", "--img-size", str(s.img_size), "--out", releases, "--force"]
    return [
        Step("Labelled images, as CVAT exports them (YOLO 1.1)",
             [["dataset", "demo", "--out", "shapes-cvat.zip", "--images", str(s.images)],
              ["dataset", "import", "shapes-cvat.zip", "--out", "datasets/shapes"],
              ["dataset", "preview", data, "--out", "preview.png"]]),
        Step("Train YOLOv7-tiny on the CPU",
             [[*train, "--epochs", str(s.epochs), "--name", "v1"]]),
        Step("Reparameterize, export ONNX in DeepStream-Yolo's layout, verify with onnxruntime, bundle as v1",
             [[export[0], "runs/train/v1/weights/best.pt", *export[1:], "--version", "1.0.0"]]),
        Step("A fleet of simulated Jetsons: two Orin Nano (JetPack 6.1), one Xavier NX (JetPack 5.1.3)",
             [["lab", "up", "--name", lab, *[a for p in DEMO_PROFILES for a in ("--profile", p)],
               "--inventory-out", f"{inv}/hosts.yml"],
              _fleet_vars(s)]),
        Step("Provision: device layout, the DeepStream-Yolo parser built per CUDA, the app unit",
             [["provision", "-i", inv]]),
        Step("Push v1: plan, stage, build the engine, switch, gate on **PERF: FPS, commit",
             [["push", "shapes-1.0.0", "-i", inv, "--releases", releases],
              ["status", "-i", inv]]),
        Step("Train a few more epochs from v1 and export v2",
             [[*train, "--weights", "runs/train/v1/weights/best.pt", "--epochs", str(s.more_epochs), "--name", "v2"],
              [export[0], "runs/train/v2/weights/best.pt", *export[1:], "--version", "2.0.0"]]),
        Step("Push v2 in waves: one canary per device class, then the rest",
             [["push", "shapes-2.0.0", "-i", inv, "--releases", releases, "--serial", "1"]]),
        Step("Roll back to v1, and see what the fleet and the ledger say",
             [["rollback", "-i", inv],
              ["status", "-i", inv],
              ["history", "-i", inv]]),
    ]


def _fleet_vars(s: Settings) -> Callable[[Path], str]:
    """group_vars/all.yml: each device's camera (a sample stream on the lab) and the health gate."""

    def write(work: Path) -> str:
        path = work / "inventory" / "group_vars" / "all.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"y7_sources": [CAMERA], "y7_perf_interval_s": 1,
                                        "health_window": s.health_window, "min_fps": 10}, sort_keys=False))
        return str(path.relative_to(work))

    return write


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="y7deploy-demo", show_default=True,
              help="Where the dataset, the training runs, the releases, the inventory and the ledger go.")
@click.option("--quick", is_flag=True, help="Fewer and smaller images, one epoch each, a short health gate: "
                                            "every step, in a few minutes.")
@click.option("--lab-name", default=DEMO_LAB, show_default=True, help="Name of the demo's lab.")
def demo(workdir: str, quick: bool, lab_name: str) -> None:
    """Run the whole path: CVAT labels → training → release → a lab fleet: push, push in waves, roll back."""
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    settings = QUICK if quick else FULL
    (work / "inventory").mkdir(exist_ok=True)
    # The ledger then sits beside the inventory, and the caches (the upload checksums, the
    # runtimes') go to .cache: inside the demo's folder like everything else.
    env = {k: v for k, v in os.environ.items() if k != "Y7DEPLOY_LEDGER"}
    env["XDG_CACHE_HOME"] = str(work / ".cache")
    started = time.monotonic()
    click.secho(f"$ cd {shlex.quote(str(work))}", fg="cyan")
    try:
        for step in plan(settings, lab_name, work):
            click.secho(f"\n== {step.title}", bold=True)
            for command in step.commands:
                if callable(command):
                    _show_file(work, command(work))
                else:
                    _run(command, work, env)
    finally:
        click.secho("\n== Tear the lab down", bold=True)
        _tear_down(["lab", "down", "--name", lab_name], work, env)
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    click.secho(f"\nDone in {minutes} min {seconds:02d} s. Everything the demo made is under {work}", bold=True)


def _show_file(work: Path, relative: str) -> None:
    """The file as the user would write it: a here-document, then its text."""
    click.secho(f"$ cat > {shlex.quote(relative)} <<'EOF'", fg="cyan")
    click.echo((work / relative).read_text().rstrip())
    click.secho("EOF", fg="cyan")


def _command(args: list[str]) -> list[str]:
    click.secho("$ y7deploy " + shlex.join(args), fg="cyan")
    return [sys.executable, "-m", "y7deploy", *args]


def _run(args: list[str], work: Path, env: dict[str, str]) -> None:
    with subprocess.Popen(_command(args), cwd=work, env=env) as proc:
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the step too (one process group): let it stop as it does on its
            # own (a push ends its wave cleanly) rather than kill it, then tear down.
            proc.wait()
            raise
    if code != 0:
        raise click.ClickException(f"step failed (exit {code}): y7deploy {shlex.join(args)}")


def _tear_down(args: list[str], work: Path, env: dict[str, str]) -> None:
    """Run `lab down` out of reach of a further Ctrl-C (its own session), to the end."""
    with subprocess.Popen(_command(args), cwd=work, env=env, start_new_session=True) as proc:
        while True:
            try:
                proc.wait()
                return
            except KeyboardInterrupt:
                click.secho("(the lab is being torn down; a moment)", fg="yellow", err=True)
