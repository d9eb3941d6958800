#!/bin/sh
# Wait until the app unit's current run has printed its first **PERF: line, at most $1
# seconds (default 120). The same script for ansible-playbook (script module) and pyinfra
# (server.script); y7deploy's gate reads the same journal.
unit=y7deploy-app.service
limit=${1:-120}
deadline=$(( $(date +%s) + limit ))
failure=
while :; do
    id=$(systemctl show -p InvocationID --value "$unit")
    if [ -n "$id" ] && journalctl -q -o cat "_SYSTEMD_INVOCATION_ID=$id" | grep -q '^\*\*PERF:'; then
        exit 0
    fi
    case $(systemctl show -p SubState --value "$unit") in
        failed|auto-restart) failure="exited and is restarting or failed" ;;
        *) [ "$(date +%s)" -lt "$deadline" ] || failure="no **PERF: line within $limit s" ;;
    esac
    if [ -n "$failure" ]; then
        echo "$unit: $failure" >&2
        systemctl --no-pager status "$unit" >&2
        exit 1
    fi
    sleep 0.2
done
