"""Ctrl-C stops the whole stack (run last: see RUN_LAST in conftest.py)."""

from e2e.stack import Stack


def test_ctrl_c_stops_every_process_of_the_stack(stack: Stack):
    groups = stack.pids()
    assert set(groups) == {"web", "accounts", "batches", "files", "beat"}
    stack.stop()  # SIGINT, as Ctrl-C on `make serve`; raises if a process is left running
    assert stack.process.returncode is not None
