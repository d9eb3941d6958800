# Two commands do all set-up on a fresh Debian/Ubuntu machine, as root:
#   make demo   - runs the main job
#   make test   - runs the test suite
# Each installs what it needs first, idempotently.

VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
STAMP     := $(VENV)/.stamp
APT_STAMP := /var/lib/y7deploy-apt.stamp
APT_PKGS  := systemd-container debootstrap iproute2 openssh-client openssh-server \
             bridge-utils util-linux procps e2fsprogs python3-venv build-essential

.PHONY: demo test setup apt venv bench clean need-root

setup: apt venv

apt: $(APT_STAMP)
$(APT_STAMP): Makefile
	@if command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	fi
	@touch $@

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first: a plain 'torch' would pull several GB of CUDA.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,export,dev,coco]'
	@touch $@

# The lab tests need root (systemd-nspawn, bridges, mounts); as another user they would all skip.
test: need-root setup
	@$(VENV)/bin/pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the run"; exit 1; fi; \
	exit $$rc

demo: setup
	$(VENV)/bin/y7deploy demo

bench: setup
	$(PIP) install -q -e '.[bench]'
	# Every bench script in turn; bench/RESULTS.md gets the machine and each one's output.
	# UPSTREAM=/path/to/yolov7 also trains upstream's own train.py beside ours.
	# BENCH_ARGS="--skip push_compare --keep" reruns the rest and keeps push_compare's earlier section.
	$(PY) bench/run_all.py $(if $(UPSTREAM),--upstream $(UPSTREAM)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info

need-root:
	@$(if $(filter 0,$(shell id -u)),,$(error make test needs root: the lab tests run systemd-nspawn containers (try: sudo make test)))
