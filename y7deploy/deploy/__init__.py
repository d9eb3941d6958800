"""deploy: what a model rollout means, on top of `fleet/` and `release.py`.

Pure parts (functions over facts, vars and text; tested on canned text in tests/deploy/):

engine  engine_key(onnx_sha256, precision, batch_profile, trt_version, compute_capability,
            gpu_model, dla_core) -> str          short, filesystem-safe, stable
        batch_profile(batch, dynamic) -> 'b4' | 'd1-4'
        device_class(facts, precision, batch_profile, dla_core=None) -> str
            same module, L4T and TensorRT, and the same precision/batch/DLA asked
        trtexec_argv(trt_version, onnx_path, engine_path, *, precision, dynamic, batch,
            input_name, input_hw, workspace_mib, timing_cache, calib_file, dla_core) -> list[str]
        max_opset(trt_version), has_fast_int8(cc), has_dla(soc), has_nvenc(module),
        timing_cache_name(trt, gpu)
parser  tree_sha(parser_tree) -> src-sha (provision.yml's find|sort|sha256sum, byte for byte),
        cuda_ver(facts) (DeepStream-Yolo's CUDA_VER by DeepStream version),
        lib_path(root, src_sha, cuda_ver, opencv=False)
plan    plan_push(manifest, release_dir_files, facts_by_host, vars_by_host, PushOptions) -> Plan
            Plan.hosts {host: HostPlan}, Plan.classes {class: [hosts]}, Plan.refusals
            [(host, reason)], Plan.ok, Plan.waves(serial), HostPlan.to_vars() (push.yml's `p`)
        release_files(bundle_dir) -> {name: {path, sha256, size}}  (the edge's I/O)
        waves(classes, hosts, serial="1,25%,100%", canaries=()) -> list[list[str]]
        max_fail_exceeded(failed, total, pct) -> bool   (Ansible: exceeded, not equalled)
        plan_json(plan) (secret files' contents left out); parser_cuda_ver/parser_lib_path
            are parser.cuda_ver/parser.lib_path
        Templates rendered per host: config_infer_primary.txt, deepstream_app_config.txt, and
            with a broker sink msgconv_config.txt + message_broker_config.txt (secret, 0600)
health  read_journal(text) -> JournalReport (engine_loaded, rebuilt, perf samples, app_exited)
        parse_unit(`systemctl show` text) -> UnitState
        verdict(report, unit_before, unit_after, min_fps, window_s, n_streams,
            perf_interval_s=5, engine_path=None) -> Verdict(ok, reason, fps, pending)
state   parse_state(text) -> DeviceState (refuses a newer schema), render_state(state) -> text,
        transitions staged / switched / committed / rolled_back (pure: state -> state)
ledger  ledger_path(option, inventory), Ledger(path): start_run, record_host, finish_run,
        history(host=None), last_for_host  (SQLite on the workstation; secrets never stored);
        LedgerReporter(ledger, run_id): a fleet Reporter that records a plain playbook run

The orchestration (provision, push, rollback, status) calls the fleet runner with these.
This room never imports torch, model/, train/, data/ or lab/; fleet/ never imports it.
"""
