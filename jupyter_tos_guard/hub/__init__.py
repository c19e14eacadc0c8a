"""Hub-wide reporting: a JupyterHub service and the single-user guard's client for it."""
