"""`python -m jupyter_tos_guard.hub`: the same as `jupyter-tos-guard-hub`."""

from .app import main

main()
