"""One reading of booleans and modes for the whole fleet room, with ansible-core's own
`boolean()` as the oracle (run in a child interpreter: importing ansible patches sys.intern)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from y7deploy.fleet.convert import normalize_mode, parse_bool
from y7deploy.fleet.modules import MODULES
from y7deploy.fleet.templating import Templar

VALUES = [True, False, 0, 1, 1.0, 0.0, 2, "yes", "Yes", "no", "on", "OFF", "off", "true", "False", "1", "0",
          "y", "n", "t", "f", " yes ", "", "maybe", "2", "enabled", None]

_ORACLE = """
import json, sys
from ansible.module_utils.parsing.convert_bool import boolean
out = []
for v in json.load(sys.stdin):
    try:
        out.append(["ok", boolean(v, strict=True)])
    except TypeError:
        out.append(["error", None])
    lenient = boolean(v, strict=False)
    out[-1].append(lenient)
json.dump(out, sys.stdout)
"""


def test_booleans_read_as_ansible_reads_them():
    done = subprocess.run([sys.executable, "-c", _ORACLE], input=json.dumps(VALUES), capture_output=True,
                          text=True, check=True)
    for value, (kind, strict, lenient) in zip(VALUES, json.loads(done.stdout)):
        if kind == "ok":
            assert parse_bool(value) is strict, value
        else:
            with pytest.raises(ValueError):
                parse_bool(value)
        assert parse_bool(value, strict=False) is lenient, value


def test_module_arguments_and_the_bool_filter_use_it():
    assert MODULES["copy"].SPEC.coerce({"force": "off", "dest": "/x"}) == {"force": False, "dest": "/x"}
    assert MODULES["systemd"].SPEC.coerce({"enabled": "yes"})["enabled"] is True
    with pytest.raises(ValueError, match="'force'.*'sometimes'"):
        MODULES["copy"].SPEC.coerce({"force": "sometimes"})
    templar = Templar()
    assert templar.condition("'off' | bool", {}) is False
    assert templar.condition("'On' | bool", {}) is True


@pytest.mark.parametrize("given, expected", [
    (0o644, "644"), ("0644", "644"), ("644", "644"), ("0755", "755"), (0o4755, "4755"), ("u+x", "u+x"),
    ("u=rw,g=r,o=", "u=rw,g=r,o="), (None, None)])
def test_modes(given, expected):
    assert normalize_mode(given) == expected


@pytest.mark.parametrize("bad", ["0999", "rwx", "u+q", "7777777"])
def test_bad_modes_are_refused(bad):
    with pytest.raises(ValueError, match="invalid file mode"):
        normalize_mode(bad)
