"""A task's conditions on its module call, as Ansible applies them: `until` with `retries`
and `delay`, then `changed_when` and `failed_when`, each judged on the registered result."""

from __future__ import annotations

import time
from typing import Any, Callable

from y7deploy.fleet.playbook import Task
from y7deploy.fleet.templating import HostVars, Templar


def call(invoke: Callable[[], dict[str, Any]], task: Task, templar: Templar, variables: HostVars,
         on_retry: Callable[[int], None] = lambda left: None,
         sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """invoke() until the task's `until` holds (at most retries + 1 times, `delay` s apart),
    then changed_when/failed_when. on_retry(retries_left) is told before each wait."""
    attempts = (task.retries + 1) if task.until is not None and task.retries is not None else 1
    result: dict[str, Any] = {}
    attempt = 1
    for attempt in range(1, attempts + 1):
        result = invoke()
        if task.until is None:
            break
        if _all(templar, task.until, _judged(task, variables, result)):
            break
        result["attempts"] = attempt
        if attempt < attempts:
            on_retry(attempts - attempt)
            sleep(task.delay)
        else:
            result.update(failed=True, msg=result.get("msg", "retries exhausted"))
    if task.until is not None:
        result["attempts"] = min(attempt, attempts)
    if task.changed_when is not None or task.failed_when is not None:
        judged = _judged(task, variables, result)
        if task.changed_when is not None:
            result["changed"] = _all(templar, task.changed_when, judged)
        if task.failed_when is not None:
            result["failed"] = _all(templar, task.failed_when, judged)
            result["failed_when_result"] = result["failed"]
    return result


def _judged(task: Task, variables: HostVars, result: dict[str, Any]) -> HostVars:
    """The variables a condition sees: the result under its register name, or its keys bare."""
    return variables.child({task.register: result}) if task.register else variables.child(result)


def _all(templar: Templar, conditions: list[Any], variables: HostVars) -> bool:
    return all(templar.condition(c, variables) for c in conditions)
