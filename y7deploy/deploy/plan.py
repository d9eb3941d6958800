"""The push plan: a release, each host's facts and vars -> what each host needs, before
any device is touched.

`plan_push` is pure (no I/O but reading the package's templates): it groups hosts into
device classes, computes each host's engine key, trtexec command line and rendered
configs, and refuses, per host and with the reason, what that host cannot take:

- too little free disk under the y7deploy root for the release's files plus the engine;
- a bundle re-exported under an id the host already keeps with another manifest (a kept
  release is never overwritten);
- an ONNX opset newer than the host's TensorRT parser documents (engine.max_opset);
- a dynamic-batch model on DeepStream older than 6.1;
- INT8 without a calibration table in the release, or on a GPU without fast INT8 (the
  Nano): nvinfer would fall back to FP16 and rebuild at every start;
- a release whose class count does not match its labels;
- no facts (unreachable, not a Jetson), no sources, an unknown source or sink type.

Host vars read (inventory group_vars/host_vars; defaults in VAR_DEFAULTS):
  y7_root, y7_app_user (else ansible_user), y7_precision, y7_batch_size (dynamic models),
  y7_sources, y7_sinks, y7_perf_interval_s, y7_dla_core, y7_workspace_mib,
  min_fps, health_window, commit_deadline, engine_build_timeout, keep_releases,
  y7_disk_reserve_mb, y7_parser_sha (else the options'), and the template knobs
  (y7_conf_threshold, y7_nms_iou, y7_topk, y7_interval, y7_mux_width, ...).

Each host's release directory (its *slot*) is releases/<ID>, unless the host keeps
releases/<ID> with other configs: then the new configs go into a slot of their own,
releases/<ID>@cfg-<digest of the configs>, whose bundle files release_sync hard-links from
the kept one; a kept directory is never edited. A config-only change is then a switch like
any other: rename(2) of `current`, the gate, commit or revert to the untouched old directory.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from y7deploy.deploy import engine as eng
from y7deploy.deploy import parser
from y7deploy.errors import UserError
from y7deploy.fleet.templating import HostVars, Templar, TemplateError
from y7deploy.fleet.waves import batches, exceeds_max_fail

ROOT = "/opt/y7deploy"
CALIB_NAMES = ("calib.table", "int8_calib.table", "calibration.table")
SOURCE_KINDS = ("file", "rtsp", "csi", "v4l2")
SINK_KINDS = ("fake", "file", "rtsp", "kafka", "azure")
VAR_DEFAULTS: dict[str, Any] = {
    "min_fps": 10.0,  # every stream at or above this, through the window
    "health_window": 20,  # seconds the FPS must hold
    "commit_deadline": 300,  # seconds after the switch: the device reverts itself unless committed
    "engine_build_timeout": 3600,  # seconds per trtexec build
    "keep_releases": 3,
    "y7_perf_interval_s": 5,
    "y7_disk_reserve_mb": 64,  # left free on /opt after the release and its engine
}

_TEMPLATES = "y7deploy.templates"
SLOT_MARK = "@cfg-"  # releases/<ID>@cfg-<digest>: a config generation of release ID (see slot_for)


@dataclass(frozen=True)
class FileSpec:
    """A bundle file the host must hold in releases/<ID>/ (release_sync's `files`)."""

    name: str
    src: str  # the workstation path
    sha256: str
    size: int
    mode: str = "0644"

    def to_vars(self) -> dict[str, Any]:
        return {"name": self.name, "src": self.src, "sha256": self.sha256, "size": self.size, "mode": self.mode}


@dataclass(frozen=True)
class RenderedFile:
    """A per-host config rendered on the workstation (release_sync's `rendered`). A secret
    one is written 0600 and its text never shown: repr() leaves it out."""

    name: str
    content: str = field(repr=False)
    mode: str = "0644"
    secret: bool = False

    def to_vars(self) -> dict[str, Any]:
        return {"name": self.name, "content": self.content, "mode": self.mode, "secret": self.secret}


@dataclass(frozen=True)
class HostPlan:
    host: str
    device_class: str
    canary: bool
    release: str
    root: str
    owner: str  # the app user: owns the release directory (nvinfer may write there)
    release_dir: str  # root/releases/<slot>
    engine_key: str
    engine_path: str
    engine_tmp: str
    engine_log: str
    trtexec_argv: tuple[str, ...]
    precision: str
    batch: int
    dynamic: bool
    dla_core: int | None
    parser_lib: str
    files: tuple[FileSpec, ...]
    rendered: tuple[RenderedFile, ...]
    n_streams: int
    min_fps: float
    health_window_s: float
    perf_interval_s: float
    commit_deadline_s: int
    build_timeout_s: int
    keep_releases: int
    need_mb: int  # free disk the plan asked of the root's file system
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values to mask wherever shown
    slot: str = ""  # the directory under releases/ (release, or release@cfg-<digest>)

    @property
    def target(self) -> str:
        """What `current` is switched to: the slot's name."""
        return self.slot or self.release

    def to_vars(self) -> dict[str, Any]:
        """The plan as playbook vars (push.yml's `p`)."""
        return {
            "host": self.host, "device_class": self.device_class, "canary": self.canary,
            # `release` names the directory under releases/ (the slot); `bundle` the release id
            "release": self.target, "bundle": self.release, "root": self.root, "owner": self.owner,
            "release_dir": self.release_dir,
            "engine": {"key": self.engine_key, "path": self.engine_path, "tmp": self.engine_tmp,
                       "log": self.engine_log, "argv": list(self.trtexec_argv), "timeout": self.build_timeout_s},
            "precision": self.precision, "batch": self.batch, "dynamic": self.dynamic, "dla_core": self.dla_core,
            "parser_lib": self.parser_lib,
            "files": [f.to_vars() for f in self.files],
            "rendered": [r.to_vars() for r in self.rendered],
            "gate": {"n_streams": self.n_streams, "min_fps": self.min_fps, "window_s": self.health_window_s,
                     "perf_interval_s": self.perf_interval_s, "engine_path": self.engine_path},
            "commit_deadline": self.commit_deadline_s, "keep_releases": self.keep_releases,
        }


@dataclass(frozen=True)
class Plan:
    release: str
    hosts: dict[str, HostPlan]
    classes: dict[str, list[str]]  # device class -> hosts, in inventory order
    refusals: list[tuple[str, str]]  # (host, reason)
    order: list[str] = field(default_factory=list)  # planned hosts in inventory order

    @property
    def ok(self) -> bool:
        return not self.refusals

    def waves(self, serial: str | Sequence[Any] | None = "1,25%,100%") -> list[list[str]]:
        canaries = [h for h, p in self.hosts.items() if p.canary]
        return waves(self.classes, self.order or list(self.hosts), serial, canaries=canaries)

    def refusal_lines(self) -> list[str]:
        return [f"{host}: {reason}" for host, reason in self.refusals]


@dataclass(frozen=True)
class PushOptions:
    precision: str | None = None  # --precision: over the hosts' y7_precision and the release's
    parser_sha: str = ""  # src-sha of the DeepStream-Yolo parser tree provision built
    dla_core: int | None = None
    workspace_mib: int | None = None


# --- small pure helpers --------------------------------------------------------------------


# Kept under these names for callers of the plan.
parser_cuda_ver = parser.cuda_ver
parser_lib_path = parser.lib_path


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or "")[:3])


def parse_serial(serial: str | Sequence[Any] | None) -> list[Any]:
    """'1,25%,100%' -> [1, '25%', '100%'] (Ansible's serial list)."""
    if serial is None or serial == "":
        return []
    items = serial.split(",") if isinstance(serial, str) else list(serial)
    out: list[Any] = []
    for item in items:
        text = str(item).strip()
        if re.fullmatch(r"\d+%", text):
            out.append(text)
        elif re.fullmatch(r"\d+", text):
            out.append(int(text))
        else:
            raise UserError(f"--serial item {text!r} is neither a number nor a percentage (e.g. 1,25%,100%)")
    return out


def waves(classes: Mapping[str, Sequence[str]], hosts: Sequence[str],
          serial: str | Sequence[Any] | None = "1,25%,100%", canaries: Sequence[str] = ()) -> list[list[str]]:
    """The rollout's waves: first one canary per device class (a host of `canaries` when
    the class has one, else its first host), then the other hosts, in `hosts` order, cut
    by Ansible's `serial` rule (fleet.waves.batches: percentages of the remaining hosts)."""
    first: list[str] = []
    for members in classes.values():
        preferred = [h for h in members if h in canaries]
        if members:
            first.append((preferred or list(members))[0])
    first = [h for h in hosts if h in first]
    rest = [h for h in hosts if h not in first]
    out = [first] if first else []
    return out + batches(rest, parse_serial(serial))


def max_fail_exceeded(failed: int, total: int, pct: float) -> bool:
    """Ansible's rule: the wave stops the rollout when its failures EXCEED pct% of it
    (equal does not), or when every host of it failed. For a push, `failed` counts the
    unreachable hosts too (the issue's rule; Ansible's percentage counts failed only)."""
    if total <= 0:
        return False
    return failed == total or exceeds_max_fail(failed, total, pct)


class Templates:
    """The package's config templates for one plan: each read and compiled once, whatever
    the number of hosts (the Templar keeps the compiled form). Owned by the run."""

    def __init__(self) -> None:
        self.templar = Templar()
        self._sources: dict[str, str] = {}

    def render(self, name: str, variables: Mapping[str, Any]) -> str:
        source = self._sources.get(name)
        if source is None:
            source = self._sources[name] = resources.files(_TEMPLATES).joinpath(name).read_text(encoding="utf-8")
        return self.templar.render_string(source, variables)


def config_digest(rendered: Sequence[RenderedFile]) -> str:
    """A short digest of a host's configs, names and contents (the slot's suffix)."""
    h = hashlib.sha256()
    for r in sorted(rendered, key=lambda r: r.name):
        h.update(f"{r.name}\0{len(r.content)}\0".encode())
        h.update(r.content.encode())
    return h.hexdigest()[:8]


def slot_for(release: str, rendered: Sequence[RenderedFile], held: Mapping[str, Any]) -> str:
    """The directory under releases/ that takes `rendered` (configs rendered for releases/<release>).

    releases/<release> when the host does not hold it, holds these very configs there, or holds
    it without configs (an upload cut short: it never ran, and a re-run resumes it). A kept
    directory is never edited: it may run, or be what a revert, `previous` or `rollback --to`
    returns to, and a failed push must leave it as it was. Other configs get the config slot
    <release>@cfg-<digest>, named by them, so a re-run of the same push finds it again, also
    once retention has removed releases/<release> itself (an older config of the same model).
    """
    slot = f"{release}{SLOT_MARK}{config_digest(rendered)}"
    if slot in (held.get("releases") or []):
        return slot
    if release not in (held.get("releases") or []):
        return release
    on_device = (held.get("release_files") or {}).get(release) or {}
    if not any(r.name in on_device for r in rendered):
        return release  # staging was cut before its configs: nothing ever ran from it, finish it in place
    if all(on_device.get(r.name) == hashlib.sha256(r.content.encode()).hexdigest() for r in rendered):
        return release
    return slot


def release_of_slot(slot: str | None) -> str | None:
    """The release id of a directory under releases/ (its slot name without @cfg-...)."""
    return slot.partition(SLOT_MARK)[0] if slot else slot


def _kept_manifest_conflict(release: str, manifest_sha: str, held: Mapping[str, Any]) -> str | None:
    """The reason to refuse when the host keeps release `release` with another manifest.json."""
    for name, sums in sorted((held.get("release_files") or {}).items()):
        kept = (sums or {}).get("manifest.json")
        if release_of_slot(name) == release and kept and kept != manifest_sha:
            return (f"the host keeps release {release} (releases/{name}) with another manifest "
                    f"(sha256 {kept[:12]}, the bundle's {manifest_sha[:12]}): the bundle was re-exported "
                    "under an existing id; export it under a new version (a kept release is never overwritten)")
    return None


def release_files(release_dir: str | Path) -> dict[str, dict[str, Any]]:
    """{name: {path, sha256, size}} for every file of a bundle directory (manifest.json
    included): the one piece of I/O the plan needs, done at the edge."""
    from y7deploy.release import sha256_file

    folder = Path(release_dir)
    return {p.name: {"path": str(p), "sha256": sha256_file(p), "size": p.stat().st_size}
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


# --- the plan --------------------------------------------------------------------------------


def _var(variables: Mapping[str, Any], name: str) -> Any:
    value = variables.get(name)
    return VAR_DEFAULTS.get(name) if value is None else value


def _source_kind(src: Any) -> str | None:
    s = src if isinstance(src, Mapping) else {"uri": src}
    if "type" in s:
        return s["type"] if s["type"] in SOURCE_KINDS else None
    uri = str(s.get("uri") or "")
    if uri.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if uri.startswith("/dev/video"):
        return "v4l2"
    if uri.startswith(("file://", "http://", "https://")):
        return "file"
    return None


def _source_secrets(sources: Sequence[Any]) -> list[str]:
    found = []
    for src in sources:
        if isinstance(src, Mapping) and src.get("password"):
            found += [str(src["password"]), quote(str(src["password"]), safe="")]  # as typed, as in the URI
        uri = str(src.get("uri", "") if isinstance(src, Mapping) else src)
        match = re.match(r"^[a-z]+://[^/@:]*:([^/@]+)@", uri)
        if match:
            found.append(match.group(1))
    return found


def _sink_secrets(sink: Mapping[str, Any]) -> list[str]:
    return [str(sink[k]) for k in ("sasl_password", "connection_str", "proto_cfg") if sink.get(k)]


def _release_problems(manifest: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = []
    names = list(manifest.get("names") or [])
    if int(manifest.get("nc", -1)) != len(names):
        problems.append(f"release {manifest.get('id')}: nc={manifest.get('nc')} but {len(names)} labels")
    for name in ("model.onnx", "labels.txt", "manifest.json"):
        if name not in files:
            problems.append(f"release {manifest.get('id')}: {name} missing from the bundle")
    return problems


def _calib_name(manifest: Mapping[str, Any], files: Mapping[str, Any]) -> str | None:
    named = manifest.get("int8_calib_file")
    if named and named in files:
        return str(named)
    return next((n for n in CALIB_NAMES if n in files), None)


def plan_push(manifest: Mapping[str, Any], release_dir_files: Mapping[str, Mapping[str, Any]],
              facts_by_host: Mapping[str, Mapping[str, Any] | None],
              vars_by_host: Mapping[str, Mapping[str, Any]],
              options: PushOptions = PushOptions(),
              on_device: Mapping[str, Mapping[str, Any]] | None = None,
              templates: Templates | None = None) -> Plan:
    """Every host's plan (hosts in `vars_by_host` order), or the refusals that stop the push.

    `facts_by_host[h]` is fleet.facts.parse's dict, or None when facts could not be read.
    `release_dir_files` is release_files(bundle dir). `on_device[h]`, when known, lists the
    host's kept `releases` and `engines` (keys), which need no disk again, and `release_files`
    ({directory under releases/: {file name: sha256}} of its manifest.json and configs), which
    decide the slot (slot_for) and refuse a re-exported id.
    `templates` is the run's template cache (one is made when not given).
    """
    templates = templates or Templates()
    release = str(manifest["id"])
    refusals: list[tuple[str, str]] = []
    problems = _release_problems(manifest, release_dir_files)
    hosts: dict[str, HostPlan] = {}
    classes: dict[str, list[str]] = {}
    for host, variables in vars_by_host.items():
        if problems:
            refusals += [(host, p) for p in problems]
            continue
        facts = facts_by_host.get(host)
        try:
            plan, reasons = _plan_host(host, manifest, release_dir_files, facts, variables, options,
                                       (on_device or {}).get(host), templates)
        except (TemplateError, KeyError, ValueError, TypeError) as exc:
            refusals.append((host, f"cannot render the host's configs: {exc}"))
            continue
        if reasons:
            refusals += [(host, r) for r in reasons]
            continue
        assert plan is not None
        hosts[host] = plan
        classes.setdefault(plan.device_class, []).append(host)
    canaries = {members[0] for members in _prefer_canaries(classes, vars_by_host).values()}
    hosts = {h: _with_canary(p, h in canaries) for h, p in hosts.items()}
    classes = {c: sorted(m, key=lambda h: (h not in canaries, list(vars_by_host).index(h)))
               for c, m in classes.items()}
    return Plan(release=release, hosts=hosts, classes=classes, refusals=refusals, order=list(hosts))


def _prefer_canaries(classes: Mapping[str, list[str]], vars_by_host: Mapping[str, Mapping[str, Any]]
                     ) -> dict[str, list[str]]:
    """Per class, the hosts an operator marked as canaries (group `canary` or y7_canary) first."""
    def marked(h: str) -> bool:
        v = vars_by_host.get(h, {})
        return bool(v.get("y7_canary")) or "canary" in (v.get("group_names") or [])
    return {c: sorted(m, key=lambda h: not marked(h)) for c, m in classes.items()}


def _with_canary(plan: HostPlan, canary: bool) -> HostPlan:
    return replace(plan, canary=canary)


def _plan_host(host: str, manifest: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]],
               facts: Mapping[str, Any] | None, variables: Mapping[str, Any],
               options: PushOptions, on_device: Mapping[str, Any] | None,
               templates: Templates) -> tuple[HostPlan | None, list[str]]:
    reasons: list[str] = []
    if not facts:
        return None, ["no facts: the host was unreachable or fact gathering failed"]
    # Inventory values may be templates ("{{ lookup('env', 'X') }}"): resolved on access.
    variables = HostVars(templates.templar, [{"inventory_hostname": host}, variables])
    if not facts.get("is_jetson"):
        return None, ["not a Jetson (no /etc/nv_tegra_release or nvidia-l4t-core)"]
    trt = str(facts.get("tensorrt") or "")
    ds = str(facts.get("deepstream") or "")
    if not trt:
        reasons.append("no TensorRT installed (no tensorrt or libnvinfer package)")
    if not ds:
        reasons.append("no DeepStream installed (/opt/nvidia/deepstream/deepstream/version)")
    if reasons:
        return None, reasons

    release = str(manifest["id"])
    dynamic = manifest.get("batch") is None or bool(manifest.get("dynamic_batch"))
    precision = str(options.precision or variables.get("y7_precision") or manifest.get("precision") or "fp16")
    if precision not in eng.PRECISIONS:
        return None, [f"precision {precision!r} is not one of {', '.join(eng.PRECISIONS)}"]
    sources = variables.get("y7_sources")
    if sources is None or sources == "":
        return None, ["no cameras: y7_sources is not set for this host"]
    if not isinstance(sources, (list, tuple)):
        return None, [f"y7_sources is not a list (it is a {type(sources).__name__}): give a list of "
                      "camera URIs or mappings, e.g. -e '{\"y7_sources\": [\"rtsp://...\"]}'"]
    if not sources:
        return None, ["no cameras: y7_sources is an empty list for this host"]
    for i, src in enumerate(sources):
        if _source_kind(src) is None:
            reasons.append(f"y7_sources[{i}] {src!r}: not a file://, rtsp://, /dev/video URI or a "
                           f"mapping with type {', '.join(SOURCE_KINDS)}")
    sinks = variables.get("y7_sinks") or [{"type": "fake"}]
    if not isinstance(sinks, (list, tuple)):
        return None, [f"y7_sinks is not a list (it is a {type(sinks).__name__})"]
    for i, sink in enumerate(sinks):
        kind = sink.get("type") if isinstance(sink, Mapping) else None
        if kind not in SINK_KINDS:
            reasons.append(f"y7_sinks[{i}]: type {kind!r} is not one of {', '.join(SINK_KINDS)}")
        elif kind == "kafka" and not sink.get("broker"):
            reasons.append(f"y7_sinks[{i}]: a kafka sink needs broker (host:port)")
        elif kind == "file" and not sink.get("path"):
            reasons.append(f"y7_sinks[{i}]: a file sink needs path")
        elif kind == "azure" and not sink.get("connection_str"):
            reasons.append(f"y7_sinks[{i}]: an azure sink needs connection_str")
        elif kind == "kafka" and sink.get("sasl_username") and not sink.get("sasl_password"):
            reasons.append(f"y7_sinks[{i}]: sasl_password is empty (is its environment variable set?)")
    for i, src in enumerate(sources):
        if isinstance(src, Mapping) and src.get("username") and not src.get("password"):
            reasons.append(f"y7_sources[{i}]: username without a password (is its environment variable set?)")
    if sum(1 for s in sinks if isinstance(s, Mapping) and s.get("type") in ("kafka", "azure")) > 1:
        reasons.append("y7_sinks: more than one message broker sink (one msg-broker-config per host)")
    n_streams = len(sources)
    batch = n_streams if dynamic else int(manifest["batch"])
    if dynamic and variables.get("y7_batch_size"):
        batch = max(batch, int(variables["y7_batch_size"]))

    # What the host's software can take.
    opset = int(manifest.get("opset") or 0)
    limit = eng.max_opset(trt)
    if limit is None:
        reasons.append(f"TensorRT {trt} is older than 8.0: no documented ONNX opset support known")
    elif opset > limit:
        reasons.append(f"ONNX opset {opset} is newer than TensorRT {trt}'s parser documents (up to {limit}); "
                       f"export with --opset {limit}")
    if dynamic and version_tuple(ds) < (6, 1):
        reasons.append(f"a dynamic-batch model needs DeepStream 6.1 or later; this host has {ds} "
                       "(export with a fixed --batch)")
    calib = _calib_name(manifest, files)
    cc = str(facts.get("compute_capability") or "")
    if precision == "int8":
        if calib is None:
            reasons.append(f"int8 needs a calibration table in the release ({', '.join(CALIB_NAMES)}); "
                           "without one nvinfer falls back to FP16 and rebuilds at every start")
        if not eng.has_fast_int8(cc):
            reasons.append(f"int8 on a GPU without fast INT8 (compute {cc or 'unknown'}, {facts.get('model')}): "
                           "nvinfer would fall back to FP16 and rebuild at every start; use fp16")
    dla_core = options.dla_core if options.dla_core is not None else variables.get("y7_dla_core")
    dla_core = None if dla_core in (None, "") else int(dla_core)
    if dla_core is not None and not eng.has_dla(str(facts.get("soc") or "")):
        reasons.append(f"DLA core {dla_core} asked, but {facts.get('model')} has no DLA")
    root = str(variables.get("y7_root") or ROOT)
    parser_sha = str(variables.get("y7_parser_sha") or options.parser_sha or "")
    cuda_ver = parser_cuda_ver(facts)
    if not parser_sha:
        reasons.append("the parser's source sha is unknown (provision first; deepstream_yolo_src)")
    if not cuda_ver:
        reasons.append(f"DeepStream {ds}: no CUDA_VER in DeepStream-Yolo's table "
                       f"(known: {', '.join(parser.DEEPSTREAM_CUDA)}); provision builds no parser for it")
    if reasons:
        return None, reasons

    bp = eng.batch_profile(batch, dynamic)
    onnx_sha = str(files["model.onnx"]["sha256"])
    gpu_model = str(facts.get("model") or "")
    key = eng.engine_key(onnx_sha, precision, bp, trt, cc, gpu_model, dla_core)

    # Disk: every bundle file plus an engine taken as large as the float32 ONNX (FP16/INT8
    # engines are smaller), plus the reserve; what the device already holds (the release's
    # directory, the engine's key) is not asked for again.
    held = on_device or {}
    conflict = _kept_manifest_conflict(release, str(files["manifest.json"]["sha256"]), held)
    if conflict:
        return None, [conflict]
    bundle_bytes = 0 if release in (held.get("releases") or []) else sum(int(f["size"]) for f in files.values())
    engine_bytes = 0 if key in (held.get("engines") or []) else int(files["model.onnx"]["size"])
    reserve_mb = int(_var(variables, "y7_disk_reserve_mb"))
    need_mb = math.ceil((bundle_bytes + engine_bytes) / 2**20) + reserve_mb
    free_mb, disk = _free_mb(facts, root)
    if free_mb < need_mb:
        reasons.append(f"too little free disk on {disk}: {free_mb} MB free, {need_mb} MB needed "
                       f"(release {math.ceil(bundle_bytes / 2**20)} MB + engine {math.ceil(engine_bytes / 2**20)} MB "
                       f"+ reserve {reserve_mb} MB)")
    if reasons:
        return None, reasons

    engine_path = f"{root}/engines/{key}.engine"
    engine_tmp = f"{root}/engines/.{key}.engine.tmp"
    input_info = manifest.get("input") or {}
    opencv = str(variables.get("deepstream_yolo_opencv") or "").lower() in ("1", "true", "yes", "on")
    parser_lib = parser_lib_path(root, parser_sha, cuda_ver, opencv)
    broker = next((s for s in sinks if s.get("type") in ("kafka", "azure")), None)
    source_secrets = _source_secrets(sources)
    secrets = source_secrets + (_sink_secrets(broker) if broker is not None else [])

    def render(release_dir: str) -> list[RenderedFile]:
        template_vars = variables.child({
            "y7_onnx_file": f"{release_dir}/model.onnx",
            "y7_engine_file": engine_path,
            "y7_labels_file": f"{release_dir}/labels.txt",
            "y7_int8_calib_file": f"{release_dir}/{calib}" if calib else None,
            "y7_precision": precision,
            "y7_batch_size": batch,
            "y7_num_classes": int(manifest["nc"]),
            "y7_parser_lib": parser_lib,
            "y7_dla_core": dla_core,
            "y7_net_scale_factor": input_info.get("net_scale_factor", 0.0039215697906911373),
            "y7_sources": list(sources),
            "y7_sinks": list(sinks),
            "y7_infer_config": f"{release_dir}/config_infer_primary.txt",
            "y7_perf_interval_s": _var(variables, "y7_perf_interval_s"),
            "y7_msgconv_config_file": f"{release_dir}/msgconv_config.txt",
            "y7_broker_config_file": f"{release_dir}/message_broker_config.txt",
            "y7_hw_encoder": eng.has_nvenc(gpu_model),
        })
        out = [
            RenderedFile("config_infer_primary.txt", templates.render("config_infer_primary.txt.j2", template_vars)),
            # Camera credentials can only live in the source URIs: then this file is a secret too.
            RenderedFile("deepstream_app_config.txt", templates.render("deepstream_app_config.txt.j2", template_vars),
                         mode="0600" if source_secrets else "0644", secret=bool(source_secrets)),
        ]
        if broker is not None:
            out.append(RenderedFile("msgconv_config.txt", templates.render("msgconv_config.txt.j2", template_vars)))
            out.append(RenderedFile("message_broker_config.txt", templates.render(
                "message_broker_config.txt.j2", template_vars.child({"y7_broker": broker})), mode="0600", secret=True))
        return out

    rendered = render(f"{root}/releases/{release}")
    slot = slot_for(release, rendered, held)
    release_dir = f"{root}/releases/{slot}"
    if slot != release:
        rendered = render(release_dir)
    h, w = (manifest.get("input_size") or [640, 640])[:2]
    argv = eng.trtexec_argv(
        trt, f"{release_dir}/model.onnx", engine_tmp, precision=precision, dynamic=dynamic, batch=batch,
        input_name=str(input_info.get("name") or "images"), input_hw=(int(h), int(w)),
        workspace_mib=options.workspace_mib or variables.get("y7_workspace_mib"),
        timing_cache=f"{root}/cache/{eng.timing_cache_name(trt, gpu_model)}",
        calib_file=f"{release_dir}/{calib}" if precision == "int8" and calib else None, dla_core=dla_core)
    bundle = [FileSpec(name, str(meta.get("path", "")), str(meta["sha256"]), int(meta["size"]))
              for name, meta in sorted(files.items())]
    owner = str(variables.get("y7_app_user") or variables.get("ansible_user") or "jetson")
    plan = HostPlan(
        host=host, device_class=eng.device_class(facts, precision, bp, dla_core), canary=False, release=release,
        root=root, owner=owner, release_dir=release_dir, engine_key=key, engine_path=engine_path,
        engine_tmp=engine_tmp, engine_log=f"{root}/engines/{key}.log", trtexec_argv=tuple(argv),
        precision=precision, batch=batch, dynamic=dynamic, dla_core=dla_core, parser_lib=parser_lib,
        files=tuple(bundle), rendered=tuple(rendered), n_streams=n_streams,
        min_fps=float(_var(variables, "min_fps")), health_window_s=float(_var(variables, "health_window")),
        perf_interval_s=float(_var(variables, "y7_perf_interval_s")),
        commit_deadline_s=int(_var(variables, "commit_deadline")),
        build_timeout_s=int(_var(variables, "engine_build_timeout")),
        keep_releases=int(_var(variables, "keep_releases")), need_mb=need_mb, secrets=tuple(secrets),
        slot=slot)
    return plan, []


def _free_mb(facts: Mapping[str, Any], root: str) -> tuple[int, str]:
    """Free MB where releases and engines go, and the path it was measured at: deploy_facts'
    figure for the y7deploy root (`disk_free_root_mb`, at `disk_root`), else /opt's."""
    if facts.get("disk_free_root_mb") is not None and facts.get("disk_root_for") in (None, root):
        return int(facts["disk_free_root_mb"]), str(facts.get("disk_root") or root)
    return int(facts.get("disk_free_opt_mb") or 0), "/opt"


def plan_json(plan: Plan) -> str:
    """The plan for --json/--check output: secret files' contents left out."""
    def host(p: HostPlan) -> dict[str, Any]:
        out = p.to_vars()
        out["rendered"] = [{**r, "content": None} if r["secret"] else r for r in out["rendered"]]
        return out
    return json.dumps({"release": plan.release, "classes": plan.classes, "refusals": plan.refusals,
                       "hosts": {h: host(p) for h, p in plan.hosts.items()}}, indent=2, sort_keys=True)
