"""Run a function on several ranks of a real ``torch.distributed`` group (gloo, forked processes).

``run_ranks(fn, world, tmp_path, *args)`` calls ``fn(rank, world, tmp_path, *args)`` in ``world`` processes that
have joined one gloo group (file rendezvous under ``tmp_path``) and leaves the group afterwards, even when ``fn``
raises; an exception in any rank fails the caller.  Ranks return nothing: they write what the test compares under
``tmp_path`` (``rank{r}.npy`` and the like).  Fork, not spawn: the workers inherit the imported modules instead of
re-importing torch in each.
"""
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp


def _in_group(rank, world, init_file, fn, out_dir, args):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        fn(rank, world, out_dir, *args)
    finally:
        dist.destroy_process_group()


def run_ranks(fn, world, tmp_path, *args):
    tmp_path = Path(tmp_path)
    mp.start_processes(_in_group, args=(world, str(tmp_path / "init"), fn, tmp_path, args), nprocs=world,
                       join=True, start_method="fork")
