"""The runner against the lab: handlers, waves and aborts, unreachable hosts, tags, --json."""

from __future__ import annotations

import json
import textwrap

import pytest

import fleet_kit as kit


pytestmark = pytest.mark.lab


@pytest.fixture
def fleet(lab, tmp_path):
    with kit.session(lab, tmp_path) as f:
        yield f


def test_handlers_run_once_at_end_only_when_notified_by_a_change(fleet):
    first = fleet.play("handlers.yml", "-e", "version=1")
    assert first.exit_code == 0, first.output
    out = first.output
    # handlers run after the last task, in the order they are defined
    assert out.index("TASK [never changes]") < out.index("RUNNING HANDLER [count]") < \
        out.index("RUNNING HANDLER [also count]")
    for host in fleet.hosts:
        assert fleet.root(host, "cat /tmp/y7t/handler.log").split() == ["run"]  # notified twice, ran once
        assert fleet.root(host, "cat /tmp/y7t/handler2.log").split() == ["also"]
        assert not fleet.exists(host, "/tmp/y7t/wrong.log")
    second = fleet.play("handlers.yml", "-e", "version=1")
    assert "RUNNING HANDLER" not in second.output
    assert all(c["changed"] == 0 for c in second.recap().values())
    third = fleet.play("handlers.yml", "-e", "version=2", "--limit", "jetson02")
    assert set(third.recap()) == {"jetson02"}
    assert fleet.root("jetson02", "cat /tmp/y7t/handler.log").split() == ["run", "run"]
    assert fleet.root("jetson01", "cat /tmp/y7t/handler.log").split() == ["run"]


def reached(fleet) -> dict[str, bool]:
    return {h: fleet.exists(h, "/tmp/y7t") for h in fleet.hosts}


@pytest.fixture(scope="module")
def order(lab) -> list[str]:
    """The lab's hosts in the order `hosts: all` takes them (inventory order), as ansible-core lists them."""
    return kit.ansible_hosts(str(lab.inventory_path))


def in_waves(hosts: list[str], size: int) -> list[list[str]]:
    return [hosts[i:i + size] for i in range(0, len(hosts), size)]


def percent(hosts: list[str], pct: int) -> int:
    """A serial of `pct`% as ansible-core counts it: rounded down, at least one host."""
    return max(1, len(hosts) * pct // 100)


def fail(*hosts: str) -> list[str]:
    return ["-e", json.dumps({"fail_hosts": list(hosts)})]


def test_max_fail_exceeded_aborts_and_later_waves_are_untouched(fleet, order, tmp_path):
    first, later = order[:2], order[2:]
    run = fleet.play(kit.wave_book(tmp_path, "2", "max_fail_percentage: 49"), *fail(first[0]))  # 50 % of wave 1
    assert run.exit_code == 4, run.output
    assert reached(fleet) == {h: h in first for h in fleet.hosts}
    assert not fleet.exists(first[1], "/tmp/y7t/a")  # stopped with its wave
    assert f"hosts not reached (left untouched): {', '.join(later)}" in run.output
    assert set(run.recap()) == set(first)


def test_max_fail_equal_does_not_abort(fleet, order, tmp_path):
    run = fleet.play(kit.wave_book(tmp_path, "2", "max_fail_percentage: 50"), *fail(order[0]))
    assert run.exit_code == 3, run.output
    assert reached(fleet) == {h: True for h in fleet.hosts}
    assert fleet.exists(order[-1], "/tmp/y7t/a") and not fleet.exists(order[0], "/tmp/y7t/a")
    assert run.recap()[order[0]]["failed"] == 1


def test_wave_list_last_item_repeats_and_a_fully_failed_wave_stops(fleet, order, tmp_path):
    first = order[:percent(order, 25)]
    run = fleet.play(kit.wave_book(tmp_path, '["25%", 3]'), *fail(*first), "--json")
    assert run.exit_code == 4
    doc = run.json
    assert doc["aborted"] and doc["untouched"] == order[len(first):]
    assert reached(fleet) == {h: h in first for h in fleet.hosts}


def test_serial_percent_batches_in_order(fleet, order, tmp_path):
    run = fleet.play(kit.wave_book(tmp_path, '"50%"'), *fail(), "--json")
    assert run.exit_code == 0
    waves = [list(task["hosts"]) for task in run.json["plays"][0]["tasks"] if task["name"] == "mark"]
    assert waves == in_waves(order, percent(order, 50))


def test_any_errors_fatal_stops_everyone(fleet, order, tmp_path):
    run = fleet.play(kit.wave_book(tmp_path, "0", "any_errors_fatal: true"), *fail(order[0]))
    assert run.exit_code == 4
    assert not any(fleet.exists(h, "/tmp/y7t/a") for h in fleet.hosts)


def test_unreachable_host_is_reported_and_the_others_go_on(fleet, lab_fault, tmp_path):
    inventory = fleet.derived_inventory(all_vars={"ansible_ssh_common_args":
        f"-o UserKnownHostsFile={fleet.lab.known_hosts} -o StrictHostKeyChecking=yes -o ConnectTimeout=2"})
    with lab_fault("jetson02", "link-down"):
        run = fleet.play("handlers.yml", "-e", "version=1", inventory=inventory)
    assert run.exit_code == 3, run.output
    recap = run.recap()
    assert recap["jetson02"]["unreachable"] == 1 and recap["jetson02"]["ok"] == 0
    assert set(recap) == set(fleet.hosts)
    for host in set(fleet.hosts) - {"jetson02"}:
        assert recap[host]["failed"] == 0 and recap[host]["changed"] >= 3
    assert "UNREACHABLE!" in run.output


def test_tags_select_and_skip(fleet, tmp_path):
    book = tmp_path / "tags.yml"
    book.write_text(textwrap.dedent("""
        - hosts: jetson01
          gather_facts: false
          tasks:
            - file: {path: /tmp/y7t, state: directory}
              tags: [always]
            - file: {path: /tmp/y7t/a, state: touch}
              tags: [a]
            - file: {path: /tmp/y7t/b, state: touch}
              tags: [b]
        """))
    fleet.play(str(book), "--tags", "a")
    assert fleet.exists("jetson01", "/tmp/y7t/a") and not fleet.exists("jetson01", "/tmp/y7t/b")
    fleet.play(str(book), "--skip-tags", "a")
    assert fleet.exists("jetson01", "/tmp/y7t/b")


def test_ping_and_facts_commands(fleet):
    run = fleet.cli("ping")
    assert run.exit_code == 0
    assert run.output.count("| SUCCESS =>") == len(fleet.hosts)
    table = fleet.cli("facts")
    assert table.exit_code == 0 and "JetPack" in table.output
    assert all(host in table.output for host in fleet.hosts)
    as_json = fleet.cli("ping", "--json", "--limit", "jetson01,jetson02")
    assert as_json.exit_code == 0
    assert json.loads(as_json.output) == {"jetson01": {"ping": "pong"}, "jetson02": {"ping": "pong"}}


def test_task_keywords_loop_when_register_until_failed_when(fleet, tmp_path):
    book = tmp_path / "keywords.yml"
    book.write_text(textwrap.dedent("""
        - hosts: jetson01,jetson03
          gather_facts: false
          vars:
            names: [a, b, c]
          tasks:
            - file: {path: /tmp/y7t, state: directory}
            - name: loop with a per-item condition
              file: {path: "/tmp/y7t/{{ item }}", state: touch}
              loop: "{{ names }}"
              when: item != 'b'
              register: touched
            - assert:
                that:
                  - touched.results | length == 3
                  - touched.results[1].skipped
                  - touched.results[0].changed
            - name: succeeds on the third try
              shell: n=$(cat /tmp/y7t/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/y7t/n; echo $n
              register: counter
              until: counter.stdout == '3'
              retries: 5
              delay: 0.1
            - assert: {that: ["counter.attempts == 3"]}
            - name: failure judged by output, not exit code
              command: echo "ERROR in config"
              register: judged
              failed_when: "'ERROR' in judged.stdout"
              changed_when: false
              ignore_errors: true
            - assert: {that: ["judged is failed", "judged.rc == 0"]}
            - name: only on one host
              file: {path: /tmp/y7t/only, state: touch}
              when: inventory_hostname == 'jetson03'
            - name: environment reaches the command
              shell: printf '%s' "$GREETING"
              environment: {GREETING: "hi $(there)"}
              register: greeting
              changed_when: false
            - assert: {that: ["greeting.stdout == 'hi $(there)'"]}
        """))
    run = fleet.play(str(book))
    assert run.exit_code == 0, run.output
    recap = run.recap()
    assert recap["jetson01"]["ignored"] == 1 and recap["jetson01"]["skipped"] == 1
    assert recap["jetson03"]["skipped"] == 0
    for host in ("jetson01", "jetson03"):
        assert fleet.exists(host, "/tmp/y7t/a") and not fleet.exists(host, "/tmp/y7t/b")
        assert fleet.root(host, "cat /tmp/y7t/n").strip() == "3"
    assert run.output.count("FAILED - RETRYING") == 4
    assert fleet.exists("jetson03", "/tmp/y7t/only") and not fleet.exists("jetson01", "/tmp/y7t/only")
