"""bench/run_all.py (`make bench`): every script run in turn, the machine and each script's output in RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).resolve().parents[1] / "bench" / "run_all.py"


def script(folder: Path, name: str, doc: str, body: str) -> None:
    (folder / name).write_text(f'"""{doc}"""\nimport sys\n{body}\n')


def drive(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), "--dir", str(folder), "--out", str(folder / "RESULTS.md"),
                           *args], capture_output=True, text=True, timeout=120)


def test_results_hold_the_machine_then_each_scripts_output_and_verdict(tmp_path):
    script(tmp_path, "alpha.py", "Alpha bench: how fast alpha is.", 'print("alpha: median 1.50 s of 3; 2.0x beta")')
    script(tmp_path, "beta.py", "Beta bench.", 'print("beta broke"); sys.exit(3)')
    script(tmp_path, "_shared.py", "Helpers, not a bench.", 'print("must not run")')
    proc = drive(tmp_path)
    results = (tmp_path / "RESULTS.md").read_text()
    assert proc.returncode == 1 and "failed: beta.py" in proc.stderr
    machine = results.split("## Machine")[1].split("## alpha.py")[0]
    for field in ("CPU: ", " cores", "memory: ", "GiB", "load average at the start: ", "date: "):
        assert field in machine
    assert results.index("## alpha.py") < results.index("## beta.py")
    alpha = results.split("## alpha.py")[1].split("## beta.py")[0]
    assert "Alpha bench: how fast alpha is." in alpha and "alpha: median 1.50 s of 3; 2.0x beta" in alpha
    assert alpha.count("load average before") == 1 and "\nok, " in alpha
    assert "FAILED (exit 3)" in results.split("## beta.py")[1] and "beta broke" in results
    assert "must not run" not in results and "_shared" not in results


def test_train_gets_the_upstream_checkout_and_only_picks_scripts(tmp_path):
    script(tmp_path, "train.py", "Train bench.", "print('args:', sys.argv[1:])")
    script(tmp_path, "other.py", "Other bench.", "print('other ran')")
    proc = drive(tmp_path, "--only", "train", "--upstream", "/src/yolov7")
    results = (tmp_path / "RESULTS.md").read_text()
    assert proc.returncode == 0, proc.stderr
    assert "args: ['--upstream', '/src/yolov7']" in results and "other ran" not in results


def test_args_reach_the_script_they_name(tmp_path):
    script(tmp_path, "train.py", "Train bench.", "print('train args:', sys.argv[1:])")
    script(tmp_path, "push.py", "Push bench.", "print('push args:', sys.argv[1:])")
    proc = drive(tmp_path, "--upstream", "/src/yolov7", "--args", "push=--hosts 1,10 --note 'two words'",
                 "--args", "train=--epochs 1")
    results = (tmp_path / "RESULTS.md").read_text()
    assert proc.returncode == 0, proc.stderr
    assert "push args: ['--hosts', '1,10', '--note', 'two words']" in results
    assert "options: `--hosts 1,10 --note 'two words'`" in results.split("## push.py")[1]
    assert "train args: ['--upstream', '/src/yolov7', '--epochs', '1']" in results
    assert drive(tmp_path, "--only", "push", "--args", "train=--epochs 1").returncode != 0


def test_an_unknown_script_name_is_refused_before_anything_runs(tmp_path):
    script(tmp_path, "alpha.py", "Alpha.", "print('ran')")
    proc = drive(tmp_path, "--only", "alpah")
    assert proc.returncode != 0 and "alpah" in proc.stderr and not (tmp_path / "RESULTS.md").exists()


def test_keep_leaves_the_sections_of_scripts_not_run_as_an_earlier_run_wrote_them(tmp_path):
    script(tmp_path, "alpha.py", "Alpha bench.", "print('alpha: median 2.00 s of 3')")
    script(tmp_path, "slow.py", "Slow bench.", "print('slow: first run')")
    assert drive(tmp_path).returncode == 0
    first = (tmp_path / "RESULTS.md").read_text()
    slow_then = first.split("## slow.py")[1]
    script(tmp_path, "alpha.py", "Alpha bench.", "print('alpha: median 1.00 s of 3')")
    script(tmp_path, "slow.py", "Slow bench.", "print('slow: second run')")
    proc = drive(tmp_path, "--skip", "slow", "--keep")
    results = (tmp_path / "RESULTS.md").read_text()
    assert proc.returncode == 0, proc.stderr
    assert "slow: second run" not in proc.stdout and "alpha: median 1.00 s of 3" in proc.stdout
    assert results.index("## alpha.py") < results.index("## slow.py") and results.count("## slow.py") == 1
    assert results.split("## slow.py")[1] == slow_then and "finished " in slow_then
    assert "alpha: median 1.00 s of 3" in results and "alpha: median 2.00 s of 3" not in results


def test_without_keep_a_partial_run_writes_only_what_it_ran(tmp_path):
    script(tmp_path, "alpha.py", "Alpha bench.", "print('alpha ran')")
    script(tmp_path, "slow.py", "Slow bench.", "print('slow ran')")
    assert drive(tmp_path).returncode == 0
    assert drive(tmp_path, "--skip", "slow").returncode == 0
    results = (tmp_path / "RESULTS.md").read_text()
    assert "alpha ran" in results and "## slow.py" not in results


def test_runs_written_to_other_files_are_merged_without_running_anything(tmp_path):
    script(tmp_path, "alpha.py", "Alpha bench.", "print('alpha measured')")
    script(tmp_path, "slow.py", "Slow bench.", "print('slow measured')")
    assert drive(tmp_path, "--only", "alpha").returncode == 0
    (tmp_path / "RESULTS.md").rename(tmp_path / "alpha.md")
    assert drive(tmp_path, "--only", "slow").returncode == 0
    (tmp_path / "RESULTS.md").rename(tmp_path / "slow.md")
    script(tmp_path, "alpha.py", "Alpha bench.", "print('alpha ran again')")
    proc = drive(tmp_path, "--skip", "alpha,slow", "--keep", str(tmp_path / "slow.md"), str(tmp_path / "alpha.md"))
    results = (tmp_path / "RESULTS.md").read_text()
    assert proc.returncode == 0, proc.stderr
    assert "alpha measured" in results and "slow measured" in results and "alpha ran again" not in results
    assert results.index("## alpha.py") < results.index("## slow.py") and "Not run yet" not in results
    assert "Kept from earlier runs (--keep)" in results.split("## alpha.py")[0]

