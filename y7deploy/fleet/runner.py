"""Run a playbook on an inventory: plays, waves, tasks, handlers; Ansible's linear strategy.

Within a wave every task runs on all of the wave's hosts in parallel (at most `forks`
at once), then the next task starts, as in Ansible. Each host keeps ONE SSH connection
for the whole run, opened the first time a task needs it. Modules do their checks in
a single remote command where they can, so a host that is already right costs one
round trip per task.

Everything that can be checked before touching a host is checked first (playbook,
patterns, --limit, variable names): bad input raises UserError and nothing runs.

The runner only orchestrates. A host's variables come from variables.py, a task's
until/retries and changed_when/failed_when from conditions.py, statistics and the JSON
record from record.py, connections from a Connector (connector.py: SSH unless told
otherwise), and whoever watches is a Reporter (report.py). A wave past its failure
threshold raises StopRollout, which ends the run.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2

from y7deploy.errors import UserError
from y7deploy.fleet import conditions, variables as scope, waves
from y7deploy.fleet import facts as jetson_facts
from y7deploy.fleet.connector import Connector, SSHConnector, ssh_connector
from y7deploy.fleet.errors import CommandTimeout, StopRollout, Unreachable
from y7deploy.fleet.modules import MODULES
from y7deploy.fleet.modules.base import ModuleContext
from y7deploy.fleet.playbook import Block, Play, Playbook, Task, check_names, resolve_local, timeout_seconds
from y7deploy.fleet.record import HostStats, Record, RunResult, TaskOutcome
from y7deploy.fleet.redact import Redactor, censor
from y7deploy.fleet.report import Reporter
from y7deploy.fleet.templating import HostVars, Templar, TemplateError, is_template
from y7deploy.fleet.variables import OMIT

# Names other rooms import from here (kept where they were before the runner was split).
__all__ = ["HostStats", "RunOptions", "RunResult", "Runner", "SSHConnector", "TaskOutcome", "Unreachable",
           "run_playbook", "ssh_connector"]

# Modules that look at a path first, and the argument naming it (and whether its sha256 matters).
PROBED = {"copy": ("dest", True), "template": ("dest", True), "file": ("path", False)}
# Modules that leave a host as it was unless they report a change.
READ_ONLY = {"file", "copy", "template", "debug", "assert", "set_fact", "ping", "facts", "fetch"}


@dataclass
class RunOptions:
    check: bool = False
    diff: bool = False
    limit: str | None = None
    tags: set[str] = field(default_factory=set)
    skip_tags: set[str] = field(default_factory=set)
    forks: int = 10
    extra_vars: dict[str, Any] = field(default_factory=dict)
    become_password: str | None = None
    accept_new_host_keys: bool = False


@dataclass
class _Wave:
    """What the tasks of one wave share: its play, hosts, and who failed in it."""

    play: Play
    batch: list[str]
    failed: set[str]


@dataclass
class HostState:
    name: str
    inventory_vars: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)  # set_fact and register
    conn: Any = None
    gathered: bool = False
    failed: bool = False
    unreachable: bool = False
    touched: bool = False
    rescuing: bool = False  # failed inside a block that has a rescue section
    notified: set[str] = field(default_factory=set)
    probes: dict[tuple[str, bool], str] | None = None  # read-ahead stat outputs, valid until a change

    @property
    def active(self) -> bool:
        return not (self.failed or self.unreachable)


class Runner:
    """One playbook run. `connect(host, host_vars)` opens a connection or raises Unreachable."""

    def __init__(self, playbook: Playbook, inventory: Any, options: RunOptions,
                 reporter: Reporter, connect: Connector):
        self.book = playbook
        self.inventory = inventory
        self.options = options
        self.reporter = reporter
        self.connect = connect
        self.templar = Templar()
        self.redactor = Redactor()
        self.local_cache: dict[str, Any] = {}
        self.hosts: dict[str, HostState] = {}
        self.record = Record()
        self.stats = self.record.stats
        self.play_hosts: list[list[str]] = []
        self._lock = threading.Lock()
        self._wave_tasks: list[Task] = []  # the current wave's tasks, for the read-ahead
        self._batch: list[str] = []  # the current wave's hosts (ansible_play_batch)
        self._rescuable = False  # running the tasks of a block that has a rescue section
        self._groups: dict[str, list[str]] | None = None

    # --- before anything runs ------------------------------------------------------------

    def prepare(self, check_vars: bool = True) -> None:
        """Resolve every play's hosts and check every variable name (unless `check_vars` is
        False: a caller running the same playbook again); raise UserError on any problem."""
        from y7deploy.fleet.patterns import select_hosts

        limit = set(select_hosts(self.inventory, self.options.limit)) if self.options.limit else None
        known: set[str] = set(self.options.extra_vars)
        for play in self.book.plays:
            try:
                selected = select_hosts(self.inventory, play.hosts)
            except UserError as exc:
                raise UserError(f"{play.file}:{play.line}: hosts: {exc}") from None
            if limit is not None:
                selected = [h for h in selected if h in limit]
            self.play_hosts.append(selected)
            for name in selected:
                if name not in self.hosts:
                    hv = self.inventory.host_vars(name)
                    self.hosts[name] = HostState(name, hv)
                    known |= set(hv)
        if check_vars:
            check_names(self.book, known)
        for play in self.book.plays:
            self._resolve_rollout_settings(play)
        prepare = getattr(self.connect, "prepare", None)
        if prepare is not None:
            for state in self.hosts.values():
                prepare(state.name, state.inventory_vars)
        if self.options.become_password:
            self.redactor.add_value(self.options.become_password)
        for state in self.hosts.values():
            self.redactor.add_vars(state.inventory_vars)
        self.redactor.add_vars(self.options.extra_vars)
        for play in self.book.plays:
            self.redactor.add_vars(play.vars)

    def _resolve_rollout_settings(self, play: Play) -> None:
        """`serial: "{{ waves }}"` and a templated max_fail_percentage, from play vars and -e."""
        from y7deploy.fleet.playbook import parse_max_fail, parse_serial

        where = f"{play.file}:{play.line}"
        if not any(is_template(v) for v in [*play.serial, play.max_fail_percentage]):
            return
        variables = HostVars(self.templar, [play.vars, self.options.extra_vars])
        try:
            serial = [self.templar.resolve(v, variables) for v in play.serial]
            max_fail = self.templar.resolve(play.max_fail_percentage, variables)
        except TemplateError as exc:
            raise UserError(f"{where}: {exc}") from None
        flat = [x for v in serial for x in (v if isinstance(v, list) else [v])]
        play.serial = parse_serial(flat[0] if len(flat) == 1 else flat, where)
        play.max_fail_percentage = parse_max_fail(max_fail, where)  # type: ignore[assignment]

    # --- the run -------------------------------------------------------------------------

    def run(self) -> RunResult:
        start = time.monotonic()
        if not self.play_hosts:
            self.prepare()
        result = RunResult(stats=self.record.stats, plays=self.record.plays)
        run_start = getattr(self.reporter, "run_start", None)  # optional for reporters older than it
        if run_start is not None:
            run_start(list(dict.fromkeys(h for hosts in self.play_hosts for h in hosts)))
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.forks)) as pool:
                self._pool = pool
                for play, selected in zip(self.book.plays, self.play_hosts):
                    if self._run_play(play, selected, result):
                        break
        finally:
            self._close_all()
        touched_or_down = {h.name for h in self.hosts.values() if h.touched}
        if result.aborted:
            result.untouched = [h for hosts in self.play_hosts for h in hosts
                                if h not in touched_or_down]
            result.untouched = list(dict.fromkeys(result.untouched))
        result.failed_hosts = [h.name for h in self.hosts.values() if h.failed and not h.unreachable]
        result.unreachable_hosts = [h.name for h in self.hosts.values() if h.unreachable]
        result.elapsed = time.monotonic() - start
        self.reporter.recap(result)
        return result

    def _run_play(self, play: Play, selected: list[str], result: RunResult) -> bool:
        """Run one play wave by wave; True when the whole playbook must stop."""
        self.reporter.play_start(play.name)
        self.record.play(play.name)
        eligible = [h for h in selected if self.hosts[h].active]
        if not eligible:
            self.reporter.message("skipping: no hosts matched")
            return False
        plan = waves.batches(eligible, play.serial)
        for number, batch in enumerate(plan):
            stopped = ""
            try:
                self._run_batch(play, batch)
            except StopRollout as stop:
                stopped = stop.reason
            if stopped or all(not self.hosts[h].active for h in batch):
                later = [h for wave in plan[number + 1:] for h in wave]
                later += [h for hosts in self.play_hosts[self.book.plays.index(play) + 1:]
                          for h in hosts if self.hosts[h].active]
                # A threshold that fired always aborts; a wave that merely all failed
                # aborts only when it leaves hosts behind (Ansible stops the play either way).
                result.aborted = result.aborted or bool(stopped) or bool(later)
                result.abort_reason = stopped or f"every host of the wave ({', '.join(batch)}) failed"
                if result.aborted:
                    self.reporter.message(f"rollout stopped: {result.abort_reason}")
                return True
        return False

    def _run_batch(self, play: Play, batch: list[str]) -> None:
        """All tasks then handlers of a play on one wave; raises StopRollout past a threshold."""
        failed_in_batch: set[str] = set()
        self._batch = batch
        for name in batch:
            self.hosts[name].notified.clear()
        if play.gather_facts:
            todo = [h for h in batch if self.hosts[h].active and not self.hosts[h].gathered]
            if todo:
                self.reporter.task_start("Gathering Facts")
                outcomes = self._parallel(todo, lambda h: self._gather(h))
                self._after_task(outcomes, None, "Gathering Facts")
                failed_in_batch |= {o.host for o in outcomes if o.status == "failed"}
        self._wave_tasks = [t for t in play.tasks if isinstance(t, Task) and self._selected_by_tags(t, play)]
        for name in batch:
            self.hosts[name].probes = None
        wave = _Wave(play, batch, failed_in_batch)
        self._run_items(wave, play.tasks, batch)
        for handler in play.handlers:
            names = {handler.name, *handler.listen}
            hosts = [h for h in batch if self.hosts[h].active and self.hosts[h].notified & names]
            if hosts:
                self._run_one(wave, handler, hosts, handler=True)

    def _run_items(self, wave: _Wave, items: list[Any], hosts: list[str], *,
                   include_failed: bool = False) -> None:
        """Tasks and blocks in order on these hosts (those still able to run)."""
        for item in items:
            runnable = [h for h in hosts if self._can_run(h, include_failed)]
            if not runnable:
                break
            if isinstance(item, Block):
                self._run_block(wave, item, runnable, include_failed)
            elif self._selected_by_tags(item, wave.play):
                self._run_one(wave, item, runnable)

    def _can_run(self, host: str, include_failed: bool) -> bool:
        state = self.hosts[host]
        return not state.unreachable and not state.rescuing and (include_failed or not state.failed)

    def _run_block(self, wave: _Wave, block: Block, hosts: list[str], include_failed: bool) -> None:
        """block, then rescue for the hosts that failed in it, then always for all who entered."""
        outer, self._rescuable = self._rescuable, bool(block.rescue)
        try:
            self._run_items(wave, block.tasks, hosts, include_failed=include_failed)
        finally:
            self._rescuable = outer
            rescuing = [h for h in hosts if self.hosts[h].rescuing]
            for name in rescuing:
                self.hosts[name].rescuing = False
        if rescuing:
            self._run_items(wave, block.rescue, rescuing)
        if block.always:
            self._run_items(wave, block.always, hosts, include_failed=True)

    def _run_one(self, wave: _Wave, task: Task, hosts: list[str], *, handler: bool = False) -> None:
        """One task on these hosts, then Ansible's checks: any_errors_fatal, max_fail_percentage."""
        play, batch = wave.play, wave.batch
        title = self._title(play, task, hosts)
        self.reporter.task_start(title, handler=handler)
        outcomes = self._run_task(play, task, hosts)
        self._after_task(outcomes, task, title)
        failed_now = {o.host for o in outcomes if o.status == "failed" and not o.ignored
                      and not self.hosts[o.host].rescuing}
        down_now = {o.host for o in outcomes if o.status == "unreachable"}
        wave.failed |= failed_now
        if (play.any_errors_fatal or task.any_errors_fatal) and (failed_now or down_now):
            self._fail_rest(batch)
            raise StopRollout(f"any_errors_fatal: task {title!r} failed on "
                              f"{', '.join(sorted(failed_now | down_now))}")
        if outcomes and waves.exceeds_max_fail(len(wave.failed), len(batch), play.max_fail_percentage):
            self._fail_rest(batch)
            raise StopRollout(f"{len(wave.failed)} of {len(batch)} hosts in the wave failed, more than "
                              f"max_fail_percentage {play.max_fail_percentage:g}%")

    def _fail_rest(self, batch: list[str]) -> None:
        for name in batch:
            self.hosts[name].failed = True

    def _selected_by_tags(self, task: Task, play: Play) -> bool:
        tags = task.tags | play.tags
        wanted, skipped = self.options.tags, self.options.skip_tags
        if skipped and tags & skipped:
            return False
        if "always" in tags:
            return True
        if not wanted or "all" in wanted:
            return "never" not in tags
        return bool(tags & wanted) or ("tagged" in wanted and bool(tags)) or \
            ("untagged" in wanted and not tags)

    def _parallel(self, hosts: list[str], fn: Callable[[str], TaskOutcome]) -> list[TaskOutcome]:
        futures = [self._pool.submit(fn, h) for h in hosts]
        outcomes = []
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
        return outcomes

    def _title(self, play: Play, task: Task, hosts: list[str]) -> str:
        """The task's name rendered with the first host's variables, as ansible-core shows it: a
        part that cannot render stays in the name as `<< error N - why >>`, after a warning."""
        if not hosts or not is_template(task.name):
            return task.title
        title, errors = render_name(self.templar, task.name, self.variables(self.hosts[hosts[0]], play, task))
        if errors:
            self.reporter.message(f"[WARNING]: Encountered {len(errors)} template error{'s' * (len(errors) > 1)} "
                                  f"in the name at {task.where}: " + "; ".join(
                                      f"error {i} - {e}" for i, e in enumerate(errors, 1)))
        return title

    def _after_task(self, outcomes: list[TaskOutcome], task: Task | None, title: str) -> None:
        entry = self.record.task(title)
        for o in outcomes:
            state = self.hosts[o.host]
            state.touched = True
            self.record.count(o, rescued=self._rescuable)
            if o.status == "unreachable":
                state.unreachable = True
            elif o.status == "failed" and not o.ignored and self._rescuable:
                state.rescuing = True  # the block's rescue takes over for this host
            elif o.status == "failed" and not o.ignored:
                state.failed = True
            elif task is not None and o.status == "changed":
                state.notified.update(task.notify)
            if task is not None and (o.status != "ok" or task.module not in READ_ONLY):
                state.probes = None  # the host may have changed: what was read ahead is stale
            shown = self._shown(o.result, task)
            self.record.host(entry, o, shown)
            self.reporter.host_result(o.host, o.status, shown, ignored=o.ignored,
                                      diff=self._diff_enabled(task) and not (task and task.no_log),
                                      module=task.module if task else None)

    def _shown(self, result: dict[str, Any], task: Task | None) -> dict[str, Any]:
        """The result as it may be printed: censored for no_log, secrets masked always."""
        if task is not None and task.no_log:
            return censor(result)
        return self.redactor.scrub(result)

    def _diff_enabled(self, task: Task | None) -> bool:
        if task is not None and task.diff is not None:
            return task.diff
        return self.options.diff

    # --- per host --------------------------------------------------------------------------

    def _conn(self, state: HostState) -> Any:
        if state.conn is None:
            state.conn = self.connect(state.name, state.inventory_vars)
        return state.conn

    def _close_all(self) -> None:
        for state in self.hosts.values():
            if state.conn is not None:
                try:
                    state.conn.close()
                except Exception:  # noqa: BLE001 - closing a dead link is not worth failing on
                    pass

    def _gather(self, host: str) -> TaskOutcome:
        state = self.hosts[host]
        try:
            conn = self._conn(state)
            found = jetson_facts.gather(lambda cmd: _run(conn, cmd))
        except Unreachable as exc:
            return TaskOutcome(host, "unreachable", {"unreachable": True, "msg": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed host must not stop the others
            return TaskOutcome(host, "failed", {"failed": True, "msg": str(exc)})
        state.gathered = True
        names = jetson_facts.ansible_names(found)
        state.facts = {"jetson": found, **names, "ansible_facts": {"jetson": found, **names}}
        return TaskOutcome(host, "ok", {"changed": False})

    def variables(self, state: HostState, play: Play, task: Task | None = None,
                  extra: dict[str, Any] | None = None) -> HostVars:
        """The host's variables in Ansible's precedence (fleet/variables.py)."""
        if self._groups is None:
            self._groups = {g: self.inventory.group_hosts(g) for g in self.inventory.groups}
        magic = scope.magic(
            play_hosts=self.play_hosts[self.book.plays.index(play)], batch=self._batch,
            active=lambda h: self.hosts[h].active, groups=self._groups,
            hostvars=scope.AllHostVars(list(self.inventory.hosts), lambda name: self._other(name, play)),
            check_mode=self.options.check if task is None or task.check_mode is None else task.check_mode,
            diff_mode=self.options.diff, playbook_dir=str(self.book.directory.resolve()))
        return scope.layered(self.templar, magic, inventory=state.inventory_vars, facts=state.facts,
                             play=play.vars, task=task.vars if task else {}, runtime=state.runtime,
                             extra_vars=self.options.extra_vars, extra=extra)

    def _other(self, name: str, play: Play) -> HostVars:
        state = self.hosts.get(name) or HostState(name, self.inventory.host_vars(name))
        return self.variables(state, play)

    def _run_task(self, play: Play, task: Task, hosts: list[str]) -> list[TaskOutcome]:
        if task.run_once:
            first = self._run_on_host(play, task, hosts[0])
            for host in hosts[1:]:
                if task.register:
                    self.hosts[host].runtime[task.register] = self.hosts[hosts[0]].runtime.get(task.register)
            return [first]
        return self._parallel(hosts, lambda h: self._run_on_host(play, task, h))

    def _run_on_host(self, play: Play, task: Task, host: str) -> TaskOutcome:
        state = self.hosts[host]
        try:
            outcome = self._execute(play, task, state)
        except Unreachable as exc:
            outcome = TaskOutcome(host, "unreachable", {"unreachable": True, "changed": False,
                                                        "msg": str(exc)})
        except TemplateError as exc:
            outcome = TaskOutcome(host, "failed", {"failed": True, "changed": False,
                                                   "msg": f"{task.where}: {exc}"})
        except Exception as exc:  # noqa: BLE001 - one host's error is that host's failure
            outcome = TaskOutcome(host, "failed", {"failed": True, "changed": False,
                                                   "msg": f"{type(exc).__name__}: {exc}"})
        if outcome.status == "failed" and task.ignore_errors:
            outcome.ignored = True
        if task.register and outcome.status != "unreachable":
            state.runtime[task.register] = outcome.result
        return outcome

    def _execute(self, play: Play, task: Task, state: HostState) -> TaskOutcome:
        variables = self.variables(state, play, task)
        if task.loop is None:
            if not self._when(task, variables):
                return TaskOutcome(state.name, "skipped", {"changed": False, "skipped": True,
                                                           "skip_reason": "Conditional result was False"})
            result = self._call(play, task, state, variables)
            return TaskOutcome(state.name, _status(result), result)
        items = self.templar.resolve(task.loop, variables)
        if isinstance(items, str) or not isinstance(items, list):
            raise TemplateError(f"loop must be a list, got {type(items).__name__}")
        results = []
        for index, item in enumerate(items):
            item_vars = variables.child({task.loop_var: item,
                                         "ansible_loop": {"index": index + 1, "index0": index}})
            if not self._when(task, item_vars):
                res = {"changed": False, "skipped": True}
            else:
                res = self._call(play, task, state, item_vars)
            res.update({task.loop_var: item, "ansible_loop_var": task.loop_var})
            if task.loop_label is not None:
                res["_ansible_item_label"] = self.templar.resolve(task.loop_label, item_vars)
            results.append(res)
        combined: dict[str, Any] = {"results": results,
                                    "changed": any(r.get("changed") for r in results)}
        if any(r.get("failed") for r in results):
            combined.update(failed=True, msg="One or more items failed")
        if results and all(r.get("skipped") for r in results):
            combined["skipped"] = True
        if not results:
            combined.update(skipped=True, skip_reason="No items in the list")
        return TaskOutcome(state.name, _status(combined), combined)

    def _when(self, task: Task, variables: HostVars) -> bool:
        return all(self.templar.condition(c, variables) for c in task.when)

    def _call(self, play: Play, task: Task, state: HostState, variables: HostVars) -> dict[str, Any]:
        """One module call with retries/until, changed_when and failed_when applied."""
        module = MODULES[task.module]
        raw_keys = getattr(module, "RAW_ARGS", ())
        args = {k: (v if k in raw_keys else self.templar.resolve(v, variables))
                for k, v in task.args.items()}
        args = {k: v for k, v in args.items() if v != OMIT}
        try:
            args = module.SPEC.coerce(args)
        except ValueError as exc:
            return {"failed": True, "changed": False, "msg": f"{task.module}: {exc}"}
        if task.no_log or any(_secretish(k) for k in args):
            self.redactor.add_vars(args)
        check = self.options.check if task.check_mode is None else task.check_mode
        become = play.become if task.become is None else task.become
        if task.module in PROBED and task.loop is None and state.probes is None:
            state.probes = self._read_ahead(play, task, state, become)
        timeout = None
        if task.timeout is not None:
            timeout = timeout_seconds(self.templar.resolve(task.timeout, variables))
            if timeout is None:
                return {"failed": True, "changed": False, "msg": f"timeout {task.timeout!r}: not a number of "
                                                                 "seconds above 0"}
        ctx = ModuleContext(
            host=state.name, conn=None if module.SPEC.local else self._conn(state), check=check,
            diff=self._diff_enabled(task), become=become, variables=variables, templar=self.templar,
            base_dir=self.book.directory,
            environment={k: str(v) for k, v in self.templar.resolve(task.environment, variables).items()},
            set_facts=lambda facts: self._set_facts(state, facts), local_cache=self.local_cache,
            probes=state.probes if task.module in PROBED else None,
            resolve_local=functools.partial(resolve_local, self.book.directory),
            deadline=time.monotonic() + timeout if timeout else None,
        )

        def retrying(left: int) -> None:
            self.reporter.message(f"FAILED - RETRYING: [{state.name}]: {task.title} ({left} retries left).")

        return conditions.call(lambda: self._invoke(module, ctx, args), task, self.templar, variables,
                               on_retry=retrying)

    def _read_ahead(self, play: Play, task: Task, state: HostState, become: bool) -> dict[tuple[str, bool], str]:
        """Stat every path this and the wave's later tasks will look at, in ONE remote command.

        On a host that is already right, no task changes anything, so every file task of
        the play is answered from this one round trip. Any change (or a module that may
        change things silently) drops it; the next file task reads ahead again.
        """
        from y7deploy.fleet.modules.base import split_stat_many, stat_many_command

        tasks = self._wave_tasks
        later = tasks[tasks.index(task):] if task in tasks else [task]
        wanted: dict[tuple[str, bool], None] = {}
        for t in later:
            if t.module not in PROBED or t.loop is not None:
                continue
            if (play.become if t.become is None else t.become) != become:
                continue
            key, with_hash = PROBED[t.module]
            try:
                path = self.templar.resolve(t.args.get(key), self.variables(state, play, t))
            except Exception:  # noqa: BLE001 - depends on a later result: that task stats for itself
                continue
            if isinstance(path, str) and path and not path.endswith("/"):
                wanted[(path, with_hash)] = None
        if not wanted:
            return {}
        keys = list(wanted)
        result = self._conn(state).run(stat_many_command(keys), sudo=become)
        out = result.stdout.decode() if isinstance(result.stdout, bytes) else result.stdout
        return {key: text for key, text in zip(keys, split_stat_many(out, len(keys))) if text is not None}

    def _invoke(self, module: Any, ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return module.run(ctx, args)
        except (TemplateError, ValueError) as exc:  # a template or an argument the module cannot read
            return {"failed": True, "changed": False, "msg": str(exc)}
        except Unreachable:
            raise
        except CommandTimeout:  # the task's `timeout` (ansible-core fails the task the same way)
            return {"failed": True, "changed": False,
                    "msg": "the task did not finish within its timeout and was stopped"}
        except Exception as exc:  # noqa: BLE001
            if _is_link_lost(exc):
                raise Unreachable(ctx.host, str(exc)) from exc
            raise

    def _set_facts(self, state: HostState, facts: dict[str, Any]) -> None:
        with self._lock:
            state.runtime.update(facts)
            self.redactor.add_vars(facts)


_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)


def render_name(templar: Templar, name: str, variables: HostVars) -> tuple[str, list[str]]:
    """A task name rendered for display, and the errors met: ansible-core renders names with
    undefined variables allowed, putting `<< error N - message >>` where an expression fails
    (the whole name when it does not parse). A name never stops a run."""
    try:
        template = templar.env.from_string(name)
    except jinja2.TemplateSyntaxError as exc:
        error = f"Syntax error in template: {exc.message}"
        return f"<< error 1 - {error} >>", [error]
    try:
        return _render(template, variables), []
    except Exception:  # noqa: BLE001 - any failure falls back to rendering part by part
        pass
    errors: list[str] = []

    def part(match: re.Match) -> str:
        try:
            return _render(templar.env.from_string(match.group(0)), variables)
        except Exception as exc:  # noqa: BLE001 - shown in the name, as ansible-core shows it
            errors.append(getattr(exc, "message", None) or str(exc))
            return f"<< error {len(errors)} - {errors[-1]} >>"

    return _EXPRESSION.sub(part, name), errors


def _render(template: jinja2.Template, variables: HostVars) -> str:
    return "".join(template.root_render_func(template.new_context(variables, shared=True)))  # type: ignore[arg-type]


def _status(result: dict[str, Any]) -> str:
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    return "changed" if result.get("changed") else "ok"


def _secretish(name: str) -> bool:
    from y7deploy.fleet.redact import is_secret_name

    return is_secret_name(name)


def _run(conn: Any, command: str) -> tuple[int, str, str]:
    res = conn.run(command)
    out = res.stdout.decode("utf-8", "replace") if isinstance(res.stdout, bytes) else (res.stdout or "")
    err = res.stderr.decode("utf-8", "replace") if isinstance(res.stderr, bytes) else (res.stderr or "")
    return res.exit_code, out, err


def _is_link_lost(exc: BaseException) -> bool:
    """A dropped link seen as paramiko's or the socket's own error (the connection layer
    turns what it can into Unreachable; this catches what surfaces in the middle of a module)."""
    import socket

    import paramiko

    return isinstance(exc, (paramiko.SSHException, EOFError, ConnectionError, socket.timeout, OSError)) \
        and not isinstance(exc, FileNotFoundError)


def run_playbook(playbook: Playbook | str | Path, inventory: Any, options: RunOptions, reporter: Reporter,
                 connect: Connector | None = None) -> RunResult:
    """Load (if a path), check, and run a playbook; UserError before any host is touched.
    Connections are SSH (ssh_connector) unless `connect` is given."""
    from y7deploy.fleet.playbook import load_playbook

    book = playbook if isinstance(playbook, Playbook) else load_playbook(playbook)
    runner = Runner(book, inventory, options, reporter, connect or ssh_connector(inventory, options))
    runner.prepare()
    return runner.run()
