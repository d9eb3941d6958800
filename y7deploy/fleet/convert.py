"""How playbook and inventory values are read, once for the whole fleet room: booleans as
Ansible reads them, file modes as chmod and `stat -c %a` spell them."""

from __future__ import annotations

import re
from typing import Any

# Ansible's sets (module_utils.parsing.convert_bool.BOOLEANS_TRUE / _FALSE), lower-cased.
TRUTHY = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSY = frozenset({"n", "no", "off", "0", "false", "f"})

_SYMBOLIC_MODE = re.compile(r"[ugoa]*[-+=][rwxXst]*(,[ugoa]*[-+=][rwxXst]*)*")


def parse_bool(value: Any, *, strict: bool = True) -> bool:
    """yes/no, on/off, true/false, 1/0, y/n, t/f (any case), real booleans and 0/1.

    strict (module arguments, playbook keywords): anything else raises ValueError naming it.
    Not strict (Jinja's `bool` filter, as Ansible's): anything else is False.
    """
    if isinstance(value, bool):
        return value
    if value is None:
        text = ""
    elif isinstance(value, (int, float)):
        text = str(int(value)) if value in (0, 1) else str(value)
    else:
        text = str(value).strip().lower()
    if text in TRUTHY:
        return True
    if text in FALSY or not strict:
        return False
    raise ValueError(f"{value!r} is not a valid boolean (use true/false, yes/no, on/off, 1/0)")


def normalize_mode(mode: Any) -> str | None:
    """A file mode as `stat -c %a` prints it: 0o644 (YAML's 0644), '0644', '644' -> '644';
    symbolic modes (u+x,g-w) pass through; None stays None; anything else raises ValueError."""
    if mode is None:
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        return format(mode, "o")
    text = str(mode).strip()
    if re.fullmatch(r"[0-7]{1,4}", text):
        return format(int(text, 8), "o")
    if _SYMBOLIC_MODE.fullmatch(text):
        return text
    raise ValueError(f"invalid file mode {mode!r}")
