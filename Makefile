# The README's commands. `make run` starts the portal locally; `make test` runs every test.
.PHONY: run test lint lock

run:
	bash scripts/run

test:
	bash scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# Compile the human-edited requirements*.in into locked requirements*.txt (exact versions, hashes).
LOCK = .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o requirements-emulator.txt requirements-emulator.in
	$(LOCK) -o requirements-dev.txt requirements-dev.in
