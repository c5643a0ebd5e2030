# The two Quickstart commands (see README.md). Both need root for the embedded lab.
VENV := .venv/bin

.PHONY: course test html install lab-up lab-down

install:
	./scripts/install.sh

## Start the course: install, bring the embedded lab up, open JupyterLab on notebooks/
course: install
	$(VENV)/kanslab up
	$(VENV)/jupyter lab --allow-root --notebook-dir=notebooks --no-browser --ip=127.0.0.1

## Install everything, with every tool a test uses (--test), and run every test (unit, lab, ssh, notebooks)
test:
	./scripts/install.sh --test
	$(VENV)/python -m pytest -q -p no:cacheprovider

## For instructors: execute every chapter on the embedded lab and export it to build/html/ (English)
## and build/html/ko/ (Korean edition)
html: install
	$(VENV)/kanslab up
	$(VENV)/jupyter nbconvert --execute --to html --output-dir build/html notebooks/*.ipynb
	$(VENV)/jupyter nbconvert --execute --to html --output-dir build/html/ko notebooks/ko/*.ipynb

lab-up:
	$(VENV)/kanslab up

lab-down:
	$(VENV)/kanslab down
