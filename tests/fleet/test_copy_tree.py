"""copy with a directory src, checked against ansible-playbook on the lab: "dir/" copies what is
inside, "dir" the directory itself; modes as Ansible sets them; a re-run sends only what changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import fleet_kit as kit


pytestmark = pytest.mark.lab

BOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: /tmp/y7t, state: directory}
    - ansible.builtin.copy: {src: "{{ tree }}/", dest: /tmp/y7t/contents}
    - ansible.builtin.copy: {src: "{{ tree }}", dest: /tmp/y7t/itself/}
    - ansible.builtin.copy: {src: "{{ tree }}/", dest: /tmp/y7t/preserved/, mode: preserve, directory_mode: "0750"}
    - ansible.builtin.copy: {src: "{{ tree }}/", dest: /tmp/y7t/fixed, mode: "0600"}
"""


def make_tree(root: Path) -> Path:
    """A small source tree like DeepStream-Yolo's parser: nested dirs, an executable, an empty dir."""
    tree = root / "parser"
    (tree / "layers" / "deep").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "Makefile").write_text("all:\n\tcc -o x x.c\n")
    (tree / "build.sh").write_text("#!/bin/sh\nmake\n")
    (tree / "build.sh").chmod(0o755)
    (tree / "secret.key").write_text("k\n")
    (tree / "secret.key").chmod(0o600)
    (tree / "layers" / "conv.cu").write_text("// conv\n")
    (tree / "layers" / "deep" / "blob.bin").write_bytes(os.urandom(700 * 1024))  # the large-file path
    return tree


def listing(fleet: kit.Fleet) -> dict[str, str]:
    """Every path under /tmp/y7t with its type, mode and content hash, per host."""
    cmd = ("cd /tmp/y7t && find . -mindepth 1 -printf '%P %y %m\\n' | sort && "
           "find . -type f -print0 | sort -z | xargs -0 sha256sum")
    return {h: fleet.root(h, cmd) for h in fleet.hosts}


def test_directory_src_like_ansible(lab, tmp_path):
    tree = make_tree(tmp_path)
    book = tmp_path / "tree.yml"
    book.write_text(BOOK)
    extra = json.dumps({"tree": str(tree)})
    oracle, ours = kit.both_tools(lab, tmp_path, book, extra, listing)
    assert oracle.exit_code == ours.exit_code == 0, ours.output + ours.stderr
    assert all(counts["changed"] == 5 for counts in ours.recap().values()), ours.output


def test_directory_copy_converges_and_sends_only_what_changed(lab, tmp_path):
    tree = make_tree(tmp_path)
    book = tmp_path / "tree.yml"
    book.write_text(BOOK)
    extra = json.dumps({"tree": str(tree)})
    with kit.session(lab, tmp_path) as fleet:
        first = fleet.play(str(book), "-e", extra, "--limit", "jetson01")
        assert first.exit_code == 0, first.output + first.stderr
        for host, counts in first.recap().items():
            assert counts["changed"] == 5, (host, first.output)
        look = fleet.root("jetson01", "cat /tmp/y7t/contents/layers/conv.cu /tmp/y7t/itself/parser/Makefile")
        assert look == "// conv\nall:\n\tcc -o x x.c\n"

        again = fleet.play(str(book), "-e", extra, "--limit", "jetson01", "--json")
        assert again.exit_code == 0
        assert [t["status"] for t in _tasks(again.json, "jetson01")] == ["ok"] * 5, again.output

        (tree / "layers" / "conv.cu").write_text("// conv v2\n")
        third = fleet.play(str(book), "-e", extra, "--limit", "jetson01", "--json")
        uploaded = [sorted(t["uploaded"]) for t in _tasks(third.json, "jetson01")[1:]]
        assert uploaded == [["/tmp/y7t/contents/layers/conv.cu"], ["/tmp/y7t/itself/parser/layers/conv.cu"],
                            ["/tmp/y7t/preserved/layers/conv.cu"], ["/tmp/y7t/fixed/layers/conv.cu"]]
        assert fleet.root("jetson01", "cat /tmp/y7t/fixed/layers/conv.cu") == "// conv v2\n"

        (tree / "layers" / "conv.cu").write_text("// conv v3\n")
        checked = fleet.play(str(book), "-e", extra, "--limit", "jetson01", "--check")
        assert checked.recap()["jetson01"]["changed"] == 4
        assert fleet.root("jetson01", "cat /tmp/y7t/fixed/layers/conv.cu") == "// conv v2\n"


def _tasks(doc: dict, host: str) -> list[dict]:
    return [task["hosts"][host] for task in doc["plays"][0]["tasks"]]
