"""`y7deploy demo`: the whole path on this machine, as the commands a user would type.

Each step is a real `y7deploy` command run as its own process and echoed first, so the
demo doubles as a walk-through: labelled images in CVAT's format, a trained detector, a
release bundle, and a lab fleet of simulated Jetsons reached over SSH. The lab is torn
down at the end whatever happened.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import click

DEMO_LAB = "y7demo"
DEMO_PROFILES = ("nano-jp461", "xavier-nx-jp513", "orin-nano-jp61")


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default="y7deploy-demo", show_default=True,
              help="Where the dataset, the training run and the release go.")
@click.option("--epochs", type=int, default=3, show_default=True, help="Training epochs (CPU).")
@click.option("--images", type=int, default=120, show_default=True, help="Demo dataset size.")
def demo(workdir: str, epochs: int, images: int) -> None:
    """Run the main job: dataset → training → release, and a 3-host lab fleet."""
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    inventory = work / "inventory.yml"
    lab_up = ["lab", "up", "--name", DEMO_LAB, "--hosts", str(len(DEMO_PROFILES)),
              *[arg for p in DEMO_PROFILES for arg in ("--profile", p)], "--inventory-out", str(inventory)]
    dataset = work / "datasets" / "shapes"
    run_dir = work / "runs" / "train" / "shapes"
    steps = [
        ("A fleet of simulated Jetsons, one per JetPack profile", [lab_up, ["lab", "status", "--name", DEMO_LAB]]),
        ("Reach every device over SSH (host keys checked) and read its facts",
         [["ping", "-i", str(inventory)], ["facts", "-i", str(inventory)]]),
        ("Labelled images, as CVAT exports them (YOLO 1.1)",
         [["dataset", "demo", "--out", str(work / "shapes-cvat.zip"), "--images", str(images)],
          ["dataset", "import", str(work / "shapes-cvat.zip"), "--out", str(dataset)],
          ["dataset", "check", str(dataset / "data.yaml")]]),
        ("Train YOLOv7-tiny on the CPU",
         [["train", "--data", str(dataset / "data.yaml"), "--cfg", "yolov7-tiny", "--epochs", str(epochs),
           "--batch-size", "16", "--img-size", "320", "--device", "cpu", "--project", str(run_dir.parent),
           "--name", run_dir.name, "--exist-ok"]]),
        ("Reparameterize, export ONNX in DeepStream-Yolo's layout, verify, bundle",
         [["export", str(run_dir / "weights" / "best.pt"), "--name", "shapes", "--version", "1.0.0", "--img-size", "320",
           "--out", str(work / "releases"), "--force"],
          ["release", "list", "--dir", str(work / "releases")]]),
    ]
    try:
        for title, commands in steps:
            click.secho(f"\n== {title}", bold=True)
            for args in commands:
                _run(args)
    finally:
        click.secho("\n== Tear the lab down", bold=True)
        _run(["lab", "down", "--name", DEMO_LAB], check=False)
    click.secho(f"\nDone. Everything the demo made is under {work}", bold=True)


def _run(args: list[str], check: bool = True) -> None:
    click.secho("$ y7deploy " + shlex.join(args), fg="cyan")
    code = subprocess.call([sys.executable, "-m", "y7deploy", *args])
    if check and code != 0:
        raise click.ClickException(f"step failed (exit {code}): y7deploy {shlex.join(args)}")
