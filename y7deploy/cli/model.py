"""`y7deploy reparam`, `export` (ONNX release or upstream checkpoint) and `release list|show`: the model
side of the workstation.

torch and onnx are imported inside the commands: `release list|show` and `--help`
work on the core install.
"""

from __future__ import annotations

import json
import re

import click


class _ImgSizeCommand(click.Command):
    """Lets ``--img-size H W`` take two values, as upstream's scripts do (click options take one)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out, i = [], 0
        while i < len(args):
            if args[i] == "--img-size" and i + 2 < len(args) and args[i + 1].isdigit() and args[i + 2].isdigit():
                out += [args[i], f"{args[i + 1]},{args[i + 2]}"]
                i += 3
            else:
                out.append(args[i])
                i += 1
        return super().parse_args(ctx, out)


def _parse_img_size(value: str) -> list[int]:
    from y7deploy.errors import UserError

    parts = [p for p in re.split(r"[,x\s]+", value.strip()) if p]
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        raise UserError(f"--img-size {value!r}: give H or H W in pixels, e.g. 640 or 384 640")
    return [int(p) for p in parts]


def _human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def register(cli: click.Group) -> None:
    cli.add_command(reparam_cmd)
    cli.add_command(export_cmd)
    cli.add_command(release_group)


@click.command("reparam")
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Deploy-form checkpoint to write.")
@click.option("--cfg", default=None, help="Architecture (yolov7-tiny... or a yaml) of a plain state_dict.")
def reparam_cmd(weights: str, out: str, cfg: str | None) -> None:
    """Fold a training-form checkpoint into its deploy form (implicit layers, RepConv, BN)."""
    from y7deploy.model.reparam import reparam_checkpoint

    result = reparam_checkpoint(weights, out, cfg=cfg)
    click.echo(f"{result['out']}: deploy form of {result['source']} ({result['kind']}, "
               f"{result['params']:,} parameters, {result['changed']})")


FORMATS = ("onnx", "upstream-pt")
_ONNX_ONLY = ("version", "name", "img_size", "batch", "dynamic", "opset", "simplify", "fp16", "check_trt", "as_json")


@click.command("export", cls=_ImgSizeCommand)
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True,
              help="onnx: the verified release bundle for the fleet; upstream-pt: a best.pt that upstream "
                   "YOLOv7's own test.py, detect.py and train.py load.")
@click.option("--version", "version", default=None, help="Release version, e.g. 1.0.0 (the bundle is NAME-VERSION); "
                                                         "required for --format onnx.")
@click.option("--name", default=None, help="Release name [default: the checkpoint's stem, or its cfg for best/last.pt].")
@click.option("--img-size", "img_size", default="640", show_default=True, help="Input size: H or H W.")
@click.option("--batch", default=1, show_default=True, type=int, help="Static batch size.")
@click.option("--dynamic", is_flag=True, help="Dynamic batch axis instead of a static batch.")
@click.option("--opset", default=None, type=int, help="ONNX opset [default: 12, parsed by TensorRT 8.2 and later].")
@click.option("--simplify", is_flag=True, help="Simplify the graph with onnxslim (verified afterwards like the rest).")
@click.option("--fp16", is_flag=True, help="Ask devices for an FP16 TensorRT engine (the ONNX stays float32; TensorRT converts it).")
@click.option("--check-trt", is_flag=True, help="Also parse with TensorRT and build a throw-away engine (needs a GPU).")
@click.option("--out", "out", default=None, type=click.Path(),
              help="onnx: directory of release bundles [default: releases]; upstream-pt: the file to write "
                   "[default: STEM-upstream.pt next to WEIGHTS].")
@click.option("--force", is_flag=True, help="Replace an existing release of the same name and version (or file).")
@click.option("--cfg", default=None, help="Architecture (yolov7-tiny... or a yaml) of a plain state_dict.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def export_cmd(ctx: click.Context, weights: str, fmt: str, version: str | None, name: str | None, img_size: str,
               batch: int, dynamic: bool, opset: int | None, simplify: bool, fp16: bool, check_trt: bool,
               out: str | None, force: bool, cfg: str | None, as_json: bool) -> None:
    """Reparameterize, export to ONNX for DeepStream-Yolo, verify with onnxruntime, write a release bundle
    (or, with --format upstream-pt, write a checkpoint upstream YOLOv7 loads)."""
    from y7deploy.errors import UserError

    if fmt == "upstream-pt":
        given = [p.opts[0] for p in ctx.command.params
                 if p.name in _ONNX_ONLY and ctx.get_parameter_source(p.name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise UserError(f"{given[0]} applies to the ONNX release bundle, not to --format upstream-pt")
        _export_upstream(weights, out, cfg, force)
        return
    if version is None:
        raise UserError("--version is required for the ONNX release bundle (--format onnx)")
    from y7deploy.model.export import DEFAULT_OPSET, export_checkpoint

    result = export_checkpoint(
        weights, version=version, name=name, out=out or "releases", img_size=_parse_img_size(img_size), batch=batch,
        dynamic=dynamic, opset=opset or DEFAULT_OPSET, do_simplify=simplify, fp16=fp16,
        check_trt=check_trt, force=force, cfg=cfg,
    )
    rel, v = result.release, result.verification
    if as_json:
        click.echo(json.dumps(dict(rel.manifest), indent=2))
        return
    h, w = rel.input_size
    click.echo(f"release {rel.id} written to {rel.path}")
    b = "B (dynamic)" if rel.dynamic_batch else rel.batch
    click.echo(f"  input [{b},3,{h},{w}], output [{b},{rel.manifest['output']['rows']},6], "
               f"opset {rel.opset}, {rel.nc} classes, {_human_size(rel.size_bytes)}")
    click.echo(f"  verified with onnxruntime (batch {', '.join(map(str, v.batches))}): boxes within "
               f"{v.max_box_error:.2g} px, scores within {v.max_score_error:.2g}, class index equal"
               + ("; TensorRT engine built" if "tensorrt" in result.seconds else ""))


def _export_upstream(weights: str, out: str | None, cfg: str | None, force: bool) -> None:
    from y7deploy.model.upstream_pt import export_upstream

    result = export_upstream(weights, out, cfg=cfg, force=force)
    click.echo(f"{result['out']}: upstream YOLOv7 checkpoint of {result['source']} ({result['kind']}, "
               f"{len(result['names'])} classes, {result['params']:,} parameters)")
    click.echo("  anchors (px): " + " | ".join(" ".join(f"{v:g}" for v in level) for level in result["anchors"]))


@click.group("release")
def release_group() -> None:
    """Release bundles on this workstation."""


@release_group.command("list")
@click.option("--dir", "root", default="releases", show_default=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def release_list(root: str, as_json: bool) -> None:
    """Every bundle under --dir, newest first, each verified against its manifest."""
    from y7deploy.release import list_releases

    listed = list_releases(root)
    if as_json:
        click.echo(json.dumps([_summary(r) for r in listed], indent=2))
        return
    if not listed:
        click.echo(f"no releases under {root}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("id", "created (UTC)", "nc", "input", "batch", "opset", "size", "status"):
        table.add_column(col, no_wrap=col != "status")
    for entry in listed:
        s = _summary(entry)
        if entry.release is None:
            table.add_row(s["id"], "", "", "", "", "", "", f"[red]{s['problem']}[/red]")
        else:
            table.add_row(s["id"], s["created"].replace("T", " ")[:16], str(s["nc"]), "x".join(map(str, s["input_size"])),
                          str(s["batch"] or "dynamic"), str(s["opset"]), _human_size(s["size"]), "ok")
    Console(soft_wrap=True).print(table)


@release_group.command("show")
@click.argument("ident", metavar="ID")
@click.option("--dir", "root", default="releases", show_default=True, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def release_show(ident: str, root: str, as_json: bool) -> None:
    """One bundle's manifest, after checking every file against it (a modified bundle is refused)."""
    from y7deploy.release import find_release

    rel = find_release(root, ident)
    if as_json:
        click.echo(json.dumps(dict(rel.manifest), indent=2))
        return
    m = rel.manifest
    click.echo(f"{rel.id}  ({rel.path}, verified)")
    for key in ("name", "version", "created", "nc", "input_size", "batch", "dynamic_batch", "opset", "stride",
                "fp16", "simplified", "y7deploy_version"):
        if key in m:
            click.echo(f"  {key:<16} {m[key]}")
    click.echo(f"  {'names':<16} {', '.join(rel.names)}")
    for key in ("source", "metrics", "verification"):
        if m.get(key):
            click.echo(f"  {key:<16} " + ", ".join(f"{k}={v}" for k, v in m[key].items() if v is not None))
    for fname, entry in m["files"].items():
        click.echo(f"  {fname:<16} sha256 {entry['sha256']}  {_human_size(entry['size'])}")


def _summary(entry) -> dict:
    if entry.release is None:
        return {"id": entry.path.name, "path": str(entry.path), "ok": False, "problem": entry.problem}
    rel = entry.release
    return {"id": rel.id, "path": str(rel.path), "ok": True, "created": rel.created, "nc": rel.nc,
            "input_size": list(rel.input_size), "batch": rel.batch, "opset": rel.opset, "size": rel.size_bytes}
