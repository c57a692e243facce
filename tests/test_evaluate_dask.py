"""segmath evaluate on a Dask cluster: the same CSV as one process; the table merges in any grouping."""
import distributed  # pinned in requirements.txt: a missing Dask is a failure, not a skipped file
import numpy as np
import pytest
from PIL import Image

from segmath.evaluate import CaseResult, CaseTable, evaluate_folder


def write_folders(tmp_path, n=6):
    rng = np.random.default_rng(5)
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    for i in range(n):
        ref = np.zeros((20, 22), np.uint8)
        ref[2:9, 3:12] = 1
        ref[8:17, 12:20] = 2
        pred = np.roll(ref, i % 3 - 1, axis=1)
        pred[rng.random(ref.shape) < 0.03] = 2
        Image.fromarray(ref).save(tmp_path / "r" / f"c{i}.png")
        Image.fromarray(pred).save(tmp_path / "p" / f"c{i}.png")
    return tmp_path / "p", tmp_path / "r"


def test_local_cluster_of_two_workers_gives_the_same_csv(tmp_path):
    pred, ref = write_folders(tmp_path)
    metrics = ("dice", "iou", "hd95", "assd")
    local = evaluate_folder(pred, ref, metrics)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = evaluate_folder(pred, ref, metrics, client=client)
        unlabelled = evaluate_folder(pred, ref, metrics, labels=None, client=client)
        workers = {ws for ws in client.run(lambda: 1)}
    assert len(workers) == 2
    assert remote.csv() == local.csv() == unlabelled.csv()
    assert remote.summary == local.summary


def test_table_merge_is_order_free_and_counts_duplicated_cases_once():
    def result(case, v):
        return CaseResult(case, [[v, 2 * v], [np.nan, v]])

    results = [result(f"c{i}", i / 7) for i in range(5)]
    whole = CaseTable(("a", "b"), ("1", "2"))
    for r in results:
        whole.add(r)
    left, right = CaseTable(("a", "b"), ("1", "2")), CaseTable(("a", "b"), ("1", "2"))
    for r in results[3:] + results[:1]:        # c0 on both sides: a sampler's padding
        left.add(r)
    for r in results[:3]:
        right.add(r)
    merged = right.merge(left)
    assert merged.to_csv() == whole.to_csv()
    assert merged.summary() == whole.summary()
    with pytest.raises(ValueError, match="twice with different results"):
        merged.add(result("c1", 0.5))


def test_cli_scheduler_address(tmp_path):
    from segmath.evaluate.cli import main
    pred, ref = write_folders(tmp_path, n=3)
    local = evaluate_folder(pred, ref, ("dice", "hd95"), labels=[1, 2]).csv()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main(["evaluate", str(pred), str(ref), "-m", "dice,hd95", "-l", "1,2", "-q",
                     "--scheduler", cluster.scheduler_address,
                     "--csv", str(tmp_path / "c.csv"), "--json", str(tmp_path / "s.json")])
    assert code == 0 and (tmp_path / "c.csv").read_text() == local
