# Two commands do everything on a fresh machine: `make app` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch 2.13.0 (the one CI uses); override with TORCH=torch for your platform's default build.
TORCH ?= torch==2.13.0

.PHONY: app test bench loadtest models clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	# no retries: where PyTorch's CPU index (requirements.txt) is unreachable, as in CI, each lookup fails at once
	# instead of after five retries (5 1/2 minutes in all); torch itself is already installed by the line above
	PIP_RETRIES=0 $(PY) -m pip install -q -r requirements-dev.txt
	# the fast path's C++ kernel, compiled once at install time (optional: without a compiler the app and the
	# trainer use the PyTorch fallback, which gives the same results)
	-$(PY) -m gru_viz build-ext
	touch $@

app: $(VENV)/.installed
	$(VENV)/bin/streamlit run streamlit_app.py

test: $(VENV)/.installed
	bash scripts/ensure_chromium.sh
	$(PY) -m ruff check gru_viz tests tools streamlit_app.py
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m gru_viz bench

# 30 simulated visitors on 127.0.0.1 (about 3 minutes); see docs/LOADTEST.md. BOX=1,1g runs the app in a cgroup
# of 1 CPU and 1 GB (Community Cloud's small app; root, Linux) without the kernel build, as Cloud runs it.
BOX ?=
loadtest: $(VENV)/.installed
	$(PY) tools/loadtest.py --visitors 30 --trainers 10 --duration 120 $(if $(BOX),--box $(BOX) --no-kernel)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The bundled models: d2l's recipe on The Time Machine, snapshots kept along the way (about 3 minutes on 2 cores),
# then the previous chapter's plain rnn_scratch (512 units; epoch 0 is its initialisation) to compare with, then a
# raw-character GRU on the Python documentation that ships with Python (every character kept; lr 4; docs/RAW.md).
models: $(VENV)/.installed
	$(PY) -m gru_viz train --snapshots assets/pretrained --snapshot-epochs 1,5,20,50,100,500
	$(PY) -m gru_viz train --arch rnn --hidden 512 --snapshots assets/pretrained_rnn --snapshot-epochs 0,20,100,500
	$(PY) -m gru_viz train --corpus offline --tokens raw --max-tokens 0 --epochs 30 --lr 4 --engine fast \
		--snapshots assets/pretrained_raw --snapshot-epochs 1,30 --prefix 'The "'

