"""Keep secrets out of everything we print or write: output, logs, --diff, --json.

Two sources of secrets: any variable whose name looks secret (password, secret, token,
conn_str, key...), whose VALUE is then scrubbed wherever it appears; and any task marked
`no_log`, whose whole result is replaced by Ansible's censored message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|conn_?str|connection_string|"
                         r"(^|_)key($|_)|api_?key|private|credential", re.I)
# Names that match the pattern but hold paths or public facts, not secrets.
NOT_SECRET = re.compile(r"_file$|_path$|_dir$|^ansible_ssh_common_args$|^ansible_host_key", re.I)
MASK = "********"
CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET.search(name)


class Redactor:
    """Collects secret values as variables are seen, and scrubs them from any structure."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_value(self, value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for v in value:
                self.add_value(v)
            return
        if isinstance(value, Mapping):
            for v in value.values():
                self.add_value(v)
            return
        if value is None or isinstance(value, bool):
            return
        text = str(value)
        if len(text) >= 3 and text not in self._values:  # masking 'a' or '1' everywhere helps no one
            self._values.add(text)
            self._pattern = None

    def add_vars(self, variables: Mapping[str, Any], names: Iterable[str] | None = None) -> None:
        """Register the values of every secret-named variable (nested keys included)."""
        for name in names if names is not None else variables:
            try:
                value = variables[name]
            except Exception:  # noqa: BLE001 - an unresolvable var cannot leak
                continue
            if is_secret_name(str(name)):
                self.add_value(value)
            elif isinstance(value, Mapping):
                self.add_vars(value)

    def scrub_text(self, text: str) -> str:
        if not self._values:
            return text
        if self._pattern is None:
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(MASK, text)

    def scrub(self, value: Any) -> Any:
        """A copy of value with every secret string masked, keys of secret-named fields too."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, Mapping):
            return {k: (MASK if is_secret_name(str(k)) and isinstance(v, (str, int, float)) and v != ""
                        and not isinstance(v, bool) else self.scrub(v))
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value


def censor(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a no_log task shows: its status, never its content."""
    kept = {k: result[k] for k in ("changed", "failed", "skipped", "unreachable") if k in result}
    return {**kept, "censored": CENSORED}
