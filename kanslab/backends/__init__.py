"""The backends that run a lab behind `kanslab.Lab`: `local` (the embedded lab), `vagrant` (VMs or
any cluster over SSH) and `replay` (recorded transcripts). `base.py` is the contract every backend
implements and the optional capabilities `Lab` checks for.

(This file also makes `kanslab.backends` a regular package, so that a non-editable install ships
it: setuptools' package finder skips directories without an `__init__.py`.)"""
