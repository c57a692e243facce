"""pycocotools' COCOeval (iouType="segm") on segmath's instance format: the reference COCO mask AP.

``coco_eval(preds, target, max_dets)`` takes the lists of dicts that :func:`segmath.instance_ap` takes
(``masks``, ``scores``, ``labels``; ``masks``, ``labels``, optional ``iscrowd``), builds COCO's json structures
(RLE masks, areas, boxes) and returns the evaluated ``COCOeval``: ``.stats`` holds its twelve summary numbers.
"""
import contextlib
import io

import numpy as np


def coco_eval(preds, target, max_dets=(1, 10, 100)):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(m):
        return mask_utils.encode(np.asfortranarray(np.asarray(m, dtype=np.uint8)))

    images, anns, dets = [], [], []
    categories = set()
    for i, (p, r) in enumerate(zip(preds, target)):
        h, w = r["masks"].shape[1:]
        images.append({"id": i, "height": h, "width": w})
        crowd = r.get("iscrowd", np.zeros(len(r["labels"]), bool))
        for m, c, z in zip(r["masks"], r["labels"], crowd):
            e = rle(m)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "segmentation": e,
                         "area": float(m.sum()), "bbox": list(mask_utils.toBbox(e)), "iscrowd": int(z)})
            categories.add(int(c))
        for m, c, s in zip(p["masks"], p["labels"], p["scores"]):
            dets.append({"image_id": i, "category_id": int(c), "segmentation": rle(m), "score": float(s)})
            categories.add(int(c))
    with contextlib.redirect_stdout(io.StringIO()):          # COCO prints its progress
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in sorted(categories)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "segm")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
