"""The plan's side of a config-only change and of a kept release, on canned facts: new
configs for a release the host runs go into a slot of their own (never into the running
directory), a re-exported release id is refused, bad y7_sources/y7_sinks name their type,
free disk is the y7deploy root's, and templates are compiled once per plan."""

from __future__ import annotations

import hashlib

from y7deploy.deploy.plan import SLOT_MARK, Templates, plan_push, release_of_slot
from y7deploy.fleet.templating import Templar

from deploy_canned import CAMERA, OPTS, XAVIER, files, manifest

RELEASE = "yolov7-tiny-2"
OTHER_CAMERA = [{"uri": "rtsp://cam9.site-b/stream1"}]


def sums(plan_host) -> dict[str, str]:
    """{file name: sha256} of a host plan's configs, as deploy_facts reads them on a device."""
    out = {r.name: hashlib.sha256(r.content.encode()).hexdigest() for r in plan_host.rendered}
    out["manifest.json"] = files()["manifest.json"]["sha256"]
    return out


def plan_on(device: dict, sources=CAMERA, manifest_files=None):
    return plan_push(manifest(), manifest_files or files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": sources}},
                     OPTS, on_device={"nx1": device})


def running(configs_of: dict[str, dict[str, str]], current: str = RELEASE, previous: str | None = None) -> dict:
    return {"releases": list(configs_of), "engines": [], "current": current, "previous": previous,
            "release_files": configs_of}


def test_a_host_without_the_release_gets_it_in_its_own_directory():
    p = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    assert p.target == RELEASE and p.release_dir == f"/opt/y7deploy/releases/{RELEASE}"
    assert p.to_vars()["release"] == RELEASE


def test_the_same_configs_on_the_running_release_stay_where_they_are():
    first = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    again = plan_on(running({RELEASE: sums(first)})).hosts["nx1"]
    assert again.target == RELEASE and again.rendered == first.rendered


def test_new_configs_for_the_running_release_go_into_a_config_slot_that_names_its_own_paths():
    first = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    p = plan_on(running({RELEASE: sums(first)}), sources=OTHER_CAMERA).hosts["nx1"]
    assert p.target.startswith(RELEASE + SLOT_MARK) and release_of_slot(p.target) == RELEASE
    assert p.release == RELEASE and p.release_dir == f"/opt/y7deploy/releases/{p.target}"
    assert p.to_vars()["release"] == p.target and p.to_vars()["bundle"] == RELEASE
    infer = next(r.content for r in p.rendered if r.name == "config_infer_primary.txt")
    app = next(r.content for r in p.rendered if r.name == "deepstream_app_config.txt")
    assert f"onnx-file={p.release_dir}/model.onnx" in infer
    assert f"config-file={p.release_dir}/config_infer_primary.txt" in app and "rtsp://cam9.site-b" in app
    assert f"/releases/{RELEASE}/" not in infer + app  # nothing points into the running directory
    assert p.engine_key == first.engine_key  # the same engine serves both
    assert any(a == f"--onnx={p.release_dir}/model.onnx" for a in p.trtexec_argv)


def test_a_config_slot_is_named_by_its_configs_so_a_rerun_finds_it_and_the_old_configs_return_home():
    first = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    held = running({RELEASE: sums(first)})
    slot = plan_on(held, sources=OTHER_CAMERA).hosts["nx1"]
    assert plan_on(held, sources=OTHER_CAMERA).hosts["nx1"].target == slot.target
    assert plan_on(held, sources=[{"uri": "rtsp://cam7.site-b/s"}]).hosts["nx1"].target != slot.target
    # Running the slot: the same push again targets it, with the configs the device holds there.
    on_slot = running({RELEASE: sums(first), slot.target: sums(slot)}, current=slot.target, previous="yolov7-tiny-1")
    rerun = plan_on(on_slot, sources=OTHER_CAMERA).hosts["nx1"]
    assert rerun.target == slot.target and rerun.rendered == slot.rendered
    # Back to the first vars: releases/<ID> holds exactly those configs; no new slot.
    assert plan_on(on_slot).hosts["nx1"].target == RELEASE
    # Retention removed releases/<ID> (an older config of the model running in the slot): the
    # same push still finds its slot, instead of making releases/<ID> again and switching to it.
    pruned = running({slot.target: sums(slot)}, current=slot.target, previous="yolov7-tiny-1")
    assert plan_on(pruned, sources=OTHER_CAMERA).hosts["nx1"].target == slot.target


def test_a_kept_release_is_never_edited_whether_it_runs_or_is_only_kept():
    first = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    for current, previous in (("yolov7-tiny-3", "yolov7-tiny-1"), ("yolov7-tiny-3", RELEASE), (None, None)):
        kept = running({RELEASE: sums(first), "yolov7-tiny-3": {}}, current=current, previous=previous)
        assert plan_on(kept, sources=OTHER_CAMERA).hosts["nx1"].target.startswith(RELEASE + SLOT_MARK)


def test_a_release_whose_upload_was_cut_before_its_configs_is_finished_in_place_not_slotted():
    # What a cut upload leaves: the bundle's manifest and labels, no rendered config.
    half = {"manifest.json": files()["manifest.json"]["sha256"], "labels.txt": "0" * 64}
    p = plan_on(running({RELEASE: half, "yolov7-tiny-1": {}}, current="yolov7-tiny-1")).hosts["nx1"]
    assert p.target == RELEASE and p.release_dir == f"/opt/y7deploy/releases/{RELEASE}"


def test_a_release_id_the_host_keeps_with_another_manifest_is_refused_naming_host_and_reason():
    first = plan_on({"releases": [], "engines": []}).hosts["nx1"]
    kept = dict(sums(first), **{"manifest.json": "99" * 32})
    plan = plan_on(running({RELEASE: kept}, current="yolov7-tiny-1"))
    assert not plan.ok and not plan.hosts
    [(host, reason)] = plan.refusals
    assert host == "nx1" and f"keeps release {RELEASE}" in reason and "another manifest" in reason
    assert "999999999999" in reason and "efefefefefef" in reason and "re-exported" in reason
    # A config slot of the release counts too.
    slotted = running({f"{RELEASE}{SLOT_MARK}0badc0de": kept}, current="yolov7-tiny-1")
    assert not plan_on(slotted).ok
    # The same manifest: no refusal.
    assert plan_on(running({RELEASE: sums(first)}, current="yolov7-tiny-1")).ok


def test_y7_sources_or_sinks_that_are_not_lists_name_their_type():
    for value, kind in (("notalist", "str"), (3, "int"), ({"uri": "rtsp://x/y"}, "dict")):
        plan = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": value}}, OPTS)
        [(host, reason)] = plan.refusals
        assert host == "nx1" and f"y7_sources is not a list (it is a {kind})" in reason and "not set" not in reason
    unset = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {}}, OPTS)
    assert "y7_sources is not set" in unset.refusals[0][1]
    empty = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": []}}, OPTS)
    assert "empty" in empty.refusals[0][1]
    sinks = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": CAMERA, "y7_sinks": "fake"}}, OPTS)
    assert "y7_sinks is not a list (it is a str)" in sinks.refusals[0][1]


def test_free_disk_is_that_of_the_y7deploy_roots_file_system():
    roomy_opt = dict(XAVIER, disk_free_opt_mb=100000, disk_free_root_mb=20, disk_root="/data",
                     disk_root_for="/data/y7deploy")
    plan = plan_push(manifest(), files(), {"nx1": roomy_opt},
                     {"nx1": {"y7_sources": CAMERA, "y7_root": "/data/y7deploy"}}, OPTS)
    [(host, reason)] = plan.refusals
    assert reason.startswith("too little free disk on /data: 20 MB free")
    # A figure measured for another root is not this plan's.
    other_root = plan_push(manifest(), files(), {"nx1": roomy_opt}, {"nx1": {"y7_sources": CAMERA}}, OPTS)
    assert other_root.ok


def test_templates_are_read_and_compiled_once_per_plan_whatever_the_number_of_hosts(monkeypatch):
    compiled: list[str] = []
    original = Templar._template

    def counting(self, source, whitespace=None):
        if source not in self._compiled:
            compiled.append(source)
        return original(self, source, whitespace)

    monkeypatch.setattr(Templar, "_template", counting)
    hosts = {f"nx{i}": XAVIER for i in range(10)}
    plan = plan_push(manifest(), files(), hosts, {h: {"y7_sources": CAMERA} for h in hosts}, OPTS,
                     templates=Templates())
    assert plan.ok and len(plan.hosts) == 10
    config_templates = [s for s in compiled if "[property]" in s or "[application]" in s]
    assert len(config_templates) == 2  # config_infer_primary and deepstream_app_config, once each
