"""Everything of a lab is named from its name (no lab needed for these)."""

from __future__ import annotations

import pytest

from y7deploy.errors import UserError
from y7deploy.lab.naming import LAB_NET, Names, allocate_subnet, lab_name


def test_interface_names_fit_the_kernel_limit_and_differ_per_lab():
    a, b = Names("y7test"), Names("y7test-2")
    for n in (a, b):
        assert len(n.bridge) <= 15 and len(n.veth_host(99)) <= 15
        assert n.bridge.startswith(n.prefix) and n.veth_host(1).startswith(n.prefix)
    assert a.prefix != b.prefix


def test_bad_lab_names_are_user_errors():
    with pytest.raises(UserError):
        lab_name("../etc")
    with pytest.raises(UserError):
        lab_name("Has Space")
    assert lab_name("ok-name_1") == "ok-name_1"


def test_subnet_is_stable_and_probes_past_taken_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("Y7DEPLOY_LAB_STATE", str(tmp_path))
    first = allocate_subnet(Names("alpha"))
    assert first.prefixlen == 24 and first.subnet_of(LAB_NET)
    assert allocate_subnet(Names("alpha")) == first  # recorded, so stable
    # Another lab whose preferred /24 is already alpha's gets the next free one.
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "subnet").write_text(f"{first}\n")
    (tmp_path / "alpha" / "subnet").unlink()
    second = allocate_subnet(Names("alpha"))
    assert second != first and second.subnet_of(LAB_NET)
