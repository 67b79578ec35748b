"""How a fit uses the CPU: its threads in fork-started child processes, and
subnormal numbers flushed to zero.

The OpenMP thread pool torch computes with does not survive ``fork``: once the
parent has used it, the child's first parallel region waits forever for
threads that were not copied. MLPClassifier has no such pool, and a user of
``multiprocessing`` (fork is Linux's default before Python 3.14) or joblib's
``multiprocessing`` backend expects a fit there to work.

Pruning drives numbers into the subnormal range that dense training never
reaches: Adam's first moment of a weight whose gradient is exactly 0 (a
masked or pruned weight) decays by beta_1 a step through it, and a soft mask
far below its threshold lands there. Arithmetic on subnormals is many times
slower on x86 processors (each operand takes a microcode assist): a long fit
whose temperature has become small spent most of its time on them. A fit
therefore computes with subnormals flushed to zero (torch's
``set_flush_denormal``) and puts the mode back afterwards.
"""

import contextlib
import os

import torch

__all__ = ["subnormals_flushed", "threads_for_this_process"]

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


def _flushing() -> bool:
    """Whether subnormal numbers are flushed to zero now (on this thread): a
    subnormal float32 times 1 is then 0."""
    subnormal = torch.tensor(torch.finfo(torch.float32).tiny / 2)
    return bool(subnormal * 1.0 == 0)


@contextlib.contextmanager
def subnormals_flushed():
    """Run the block with subnormal numbers flushed to zero on the CPU, where
    the processor supports it; the mode is put back afterwards."""
    if _flushing() or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
