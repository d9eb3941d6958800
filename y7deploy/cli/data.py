"""`y7deploy dataset ...`: import, check, preview and the built-in demo set."""

from __future__ import annotations

from pathlib import Path

import click


def register(cli: click.Group) -> None:
    cli.add_command(dataset)


@click.group()
def dataset() -> None:
    """Datasets: CVAT import, checks, preview, the built-in demo set."""


@dataset.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="New dataset folder.")
@click.option("--val-fraction", default=0.2, show_default=True, type=float,
              help="Share of val when the export has no validation subset, or with --resplit.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--resplit", is_flag=True, help="Pool every subset and split train/val afresh (seeded).")
@click.option("--strict", is_flag=True,
              help="Fail (exit 2) on any problem (a bad label line, an image left out) instead of reporting it.")
def import_cmd(src: Path, out: Path, val_fraction: float, seed: int, resplit: bool, strict: bool) -> None:
    """Import a CVAT "YOLO 1.1" export (zip or folder) or an images/labels folder.

    Every subset of a CVAT export is read (Train, Validation, Test or any name). The
    export's own split is kept: a validation-like subset becomes val, a test-like one
    test, any other train.
    """
    from y7deploy.data.cvat import import_dataset

    result = import_dataset(src, out, val_fraction=val_fraction, seed=seed, strict=strict, resplit=resplit)
    named = set(result.skipped + result.missing)
    line_problems = [p for p in result.problems if p not in named]
    _print_problems(line_problems, result.scan.summary)
    for problem in result.skipped + result.missing:
        click.echo(f"not imported: {problem}", err=True)
    test = f" + {result.test_images} test" if result.test_images else ""
    click.echo(f"imported {result.kind} export: {result.train_images} train + {result.val_images} val{test} "
               f"images, {len(result.names)} classes ({', '.join(result.names)}); "
               f"{result.linked} linked, {result.copied} copied")
    click.echo(f"{result.found} image(s) in the export: {result.imported} imported, "
               f"{len(result.skipped)} not imported")
    click.echo("subsets: " + ", ".join(f"{p.subset} ({p.images}) -> {p.split}" for p in result.placements))
    if result.resplit:
        click.echo(f"--resplit: every subset pooled, {result.val_images} images to val (seed {seed})")
    elif result.held_out:
        click.echo(f"no validation subset: {result.held_out} train images held out as val "
                   f"(--val-fraction {val_fraction}, seed {seed})")
    if not result.val_images:
        click.echo("no val images: data.yaml validates on the train images")
    click.echo(f"wrote {result.data_yaml}")


@dataset.command("check")
@click.argument("data_yaml", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Fail (exit 2) on any problem.")
def check_cmd(data_yaml: Path, strict: bool) -> None:
    """Check labels and images of a data yaml and print a summary table."""
    from rich.console import Console
    from rich.table import Table

    from y7deploy.data.checks import scan_images, split_stats
    from y7deploy.data.config import load_data_config

    config = load_data_config(data_yaml)
    scans = {split: scan_images(config.images(split), nc=config.nc) for split in ("train", "val")}
    if strict:
        for scan in scans.values():
            scan.raise_if_any()
    table = Table(title=f"{data_yaml}")
    table.add_column("")
    for split in scans:
        table.add_column(split, justify="right")
    stats = {split: split_stats(scan, config.nc) for split, scan in scans.items()}
    rows = [("images", lambda s: s.images), ("empty images", lambda s: s.empty_images)]
    rows += [(f"boxes: {name}", lambda s, c=c: s.boxes_per_class[c]) for c, name in enumerate(config.names)]
    rows += [("boxes < 32px", lambda s: s.small), ("boxes 32-96px", lambda s: s.medium),
             ("boxes > 96px", lambda s: s.large),
             ("median box (px)", lambda s: f"{s.median_wh[0]:.0f}x{s.median_wh[1]:.0f}")]
    for label, get in rows:
        table.add_row(label, *(str(get(stats[split])) for split in scans))
    table.add_row("problems (dropped)", *(str(len(scan.problems)) for scan in scans.values()))
    Console().print(table)
    for scan in scans.values():
        _print_problems(scan.problems, scan.summary)


@dataset.command("preview")
@click.argument("data_yaml", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="PNG file to write.")
@click.option("--split", type=click.Choice(["train", "val"]), default="train", show_default=True)
@click.option("--count", default=16, show_default=True, type=int, help="Images in the grid.")
@click.option("--seed", default=0, show_default=True, type=int)
def preview_cmd(data_yaml: Path, out: Path, split: str, count: int, seed: int) -> None:
    """Draw a grid of images with their boxes and class names."""
    from y7deploy.data.config import load_data_config
    from y7deploy.data.preview import write_preview

    click.echo(f"wrote {write_preview(load_data_config(data_yaml), out, split, count, seed=seed)}")


@dataset.command("demo")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Zip file to write.")
@click.option("--images", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--img-size", default=320, show_default=True, type=click.IntRange(min=64))
@click.option("--seed", default=0, show_default=True, type=int)
def demo_cmd(out: Path, images: int, img_size: int, seed: int) -> None:
    """Write the built-in demo set (three shapes) as a CVAT YOLO 1.1 zip."""
    from y7deploy.data.demo import write_demo_dataset

    click.echo(f"wrote {write_demo_dataset(out, n_images=images, img_size=img_size, seed=seed)}")


def _print_problems(problems, summary, limit: int = 10) -> None:
    """Bad lines were dropped: say how many of each kind, then the first few, on stderr."""
    if not problems:
        return
    click.echo(f"dropped {len(problems)} problem(s):", err=True)
    click.echo(summary(problems), err=True)
    for problem in problems[:limit]:
        click.echo(f"  {problem}", err=True)
