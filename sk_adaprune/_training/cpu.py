"""Fits inside fork-started child processes.

The OpenMP thread pool torch computes with does not survive ``fork``: once the
parent has used it, the child's first parallel region waits forever for
threads that were not copied. MLPClassifier has no such pool, and a user of
``multiprocessing`` (fork is Linux's default before Python 3.14) or joblib's
``multiprocessing`` backend expects a fit there to work.
"""

import contextlib
import os

import torch

__all__ = ["threads_for_this_process"]

_in_forked_child = False


def _after_fork_in_child() -> None:
    global _in_forked_child
    _in_forked_child = True


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def threads_for_this_process():
    """Run the block on one torch thread in a fork-started child, as is
    elsewhere; the thread count is put back afterwards."""
    if not _in_forked_child:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
