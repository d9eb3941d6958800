"""release_sync: a release's files in releases/<ID>/, content-addressed across releases.

`files`: [{name, src (workstation path), sha256, size, mode}] — the bundle's files. A file
already at its place with the same sha256 is left alone; one the host holds under any other
release (found by the sha256 in that release's manifest.json, or under the same name, then
checked) is hard-linked
(copied across file systems) instead of sent; the rest are uploaded (resumable, verified,
renamed into place). `rendered`: [{name, content, mode, secret}] — per-host configs; a
secret file is written 0600 and its content never appears in a diff or result.
The directory ends owned by `owner` (the app user: nvinfer may write into it).
"""

from __future__ import annotations

import json
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, failed, q

SPEC = Spec(args={"dest": "str", "search": "str", "files": "list", "rendered": "list",
                  "owner": "str"}, required=("dest",))

# Per wanted file: "have" when dest already holds that sha256, else a path of a file with the
# same sha256 under another release, else "missing". Runs with the host's python3.
FIND = r'''
import hashlib, json, os, sys
want = json.loads(sys.stdin.read())
dest, search = want["dest"], want["search"]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
index = {}
for rel in sorted(os.listdir(search)) if os.path.isdir(search) else []:
    try:
        with open(os.path.join(search, rel, "manifest.json")) as f:
            files = json.load(f).get("files", {})
    except (OSError, ValueError, AttributeError):
        continue
    for name, meta in files.items():
        if isinstance(meta, dict) and meta.get("sha256"):
            index.setdefault(meta["sha256"], []).append(os.path.join(search, rel, name))
out = {}
for f in want["files"]:
    target = os.path.join(dest, f["name"])
    if os.path.isfile(target) and os.path.getsize(target) == f["size"] and sha(target) == f["sha256"]:
        out[f["name"]] = "have"
        continue
    out[f["name"]] = "missing"
    # by the manifests' sha256, then the same name in the other releases (manifest.json itself)
    same_name = [os.path.join(search, rel, f["name"])
                 for rel in (sorted(os.listdir(search)) if os.path.isdir(search) else [])]
    for cand in index.get(f["sha256"], []) + same_name:
        if cand != target and os.path.isfile(cand) and os.path.getsize(cand) == f["size"] and sha(cand) == f["sha256"]:
            out[f["name"]] = cand
            break
print(json.dumps(out))
'''


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    dest = args["dest"].rstrip("/")
    files = list(args.get("files") or [])
    rendered = list(args.get("rendered") or [])
    search = args.get("search") or dest.rpartition("/")[0]
    owner = args.get("owner")
    query = json.dumps({"dest": dest, "search": search,
                        "files": [{"name": f["name"], "sha256": f["sha256"], "size": int(f["size"])}
                                  for f in files]})
    rc, out, err = ctx.run(f"python3 -c {q(FIND)}", stdin=query)
    if rc != 0:
        return failed(f"cannot read {search}: {err.strip()[-300:]}")
    where = json.loads(out)
    would_send = sum(int(f["size"]) for f in files if where[f["name"]] == "missing")
    linked = [f["name"] for f in files if where[f["name"]] not in ("have", "missing")]
    to_send = [f for f in files if where[f["name"]] == "missing"]
    configs = _rendered_changes(ctx, dest, rendered)
    changed = bool(to_send or linked or configs)
    result: dict[str, Any] = {"changed": changed, "bytes": would_send, "linked": linked,
                              "uploaded": [f["name"] for f in to_send],
                              "rendered": [c["name"] for c in configs]}
    if ctx.diff:
        result["diff"] = [c["diff"] for c in configs if c.get("diff")]
    if ctx.check or not changed:
        return result
    user = f"{q(owner)}:{q(owner)}" if owner else ""
    prep = f"mkdir -p {q(dest)}"
    for name in linked:
        src = where[name]
        prep += f" && {{ ln -f {q(src)} {q(dest + '/' + name)} 2>/dev/null || cp -f {q(src)} {q(dest + '/' + name)}; }}"
    rc, _, err = ctx.run(prep)
    if rc != 0:
        return failed(f"cannot prepare {dest}: {err.strip()[-300:]}")
    from y7deploy.fleet.transfer import TransferReport, put_bytes, put_file

    sent = 0
    for f in to_send:
        report = TransferReport()
        put_file(ctx.conn, f["src"], f"{dest}/{f['name']}", mode=f.get("mode", "0644"),
                 sudo=ctx.become, report=report)
        sent += report.bytes_sent
    for c in configs:
        put_bytes(ctx.conn, c["content"].encode(), f"{dest}/{c['name']}",
                  mode="0600" if c["secret"] else c.get("mode", "0644"), sudo=ctx.become)
    if user:
        ctx.run(f"chown -R {user} {q(dest)}")
    result["bytes"] = sent
    return result


def _rendered_changes(ctx: ModuleContext, dest: str, rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered files whose content on the host differs (with a diff unless secret)."""
    import difflib
    import hashlib

    if not rendered:
        return []
    script = "; ".join(f"echo @@{i}; sha256sum < {q(dest + '/' + r['name'])} 2>/dev/null | cut -c1-64"
                       for i, r in enumerate(rendered))
    _, out, _ = ctx.run(script + "; true")
    sums: dict[int, str] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("@@"):
            current = int(line[2:])
        elif current is not None:
            sums[current] = line.strip()
    changes = []
    for i, r in enumerate(rendered):
        text = str(r["content"])
        if sums.get(i) == hashlib.sha256(text.encode()).hexdigest():
            continue
        entry = {"name": r["name"], "content": text, "secret": bool(r.get("secret")),
                 "mode": r.get("mode", "0644")}
        if ctx.diff and not entry["secret"]:
            old = ""
            if sums.get(i):
                _, old, _ = ctx.run(f"cat -- {q(dest + '/' + r['name'])}")
            entry["diff"] = "".join(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True),
                fromfile=f"{dest}/{r['name']} (host)", tofile=f"{dest}/{r['name']} (release)"))
        changes.append(entry)
    return changes
