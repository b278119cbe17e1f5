"""The ``spatial_grounding`` channel (R_G): boxes cited in the reasoning against ground-truth boxes.

Boxes are ``[x1, y1, x2, y2]`` in pixels of one frame; predicted and ground-truth boxes must be
in the same frame (see :mod:`reward_fns.frame` for bringing ground truth into the model's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import complete_box_iou

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BBOX = re.compile(rf"<bbox>\s*\[?\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]?\s*</bbox>")

BoxesLike = Sequence[Sequence[float]] | np.ndarray | torch.Tensor


def parse_bboxes(text: str) -> list[list[float]]:
    """Every well-formed, non-degenerate ``<bbox>[x1,y1,x2,y2]</bbox>`` in ``text``, in order.

    Brackets are optional; numbers may be ints or floats, signed, in exponent form, with spaces
    around them. A box whose corners come swapped (``x1 > x2`` or ``y1 > y2``) is kept with its
    corners sorted, since the region it names is unambiguous. A box with zero width or height,
    or with a coordinate that overflows to infinity, is dropped. Malformed tags (three numbers,
    missing closing tag) are not boxes.

    >>> parse_bboxes("the cup <bbox>[30, 40, 10, 20.5]</bbox> and <bbox>1,1,1,9</bbox>")
    [[10.0, 20.5, 30.0, 40.0]]
    """
    boxes = []
    for match in _BBOX.finditer(text):
        x1, y1, x2, y2 = (float(value) for value in match.groups())
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            continue
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
        if x2 > x1 and y2 > y1:
            boxes.append([x1, y1, x2, y2])
    return boxes


def _box_tensor(boxes: BoxesLike, name: str) -> torch.Tensor:
    try:
        array = np.asarray(boxes.cpu() if isinstance(boxes, torch.Tensor) else boxes, dtype=np.float64)
    except ValueError as err:  # ragged lists
        raise ValueError(f"{name} must be a list of [x1, y1, x2, y2] boxes: {err}") from err
    if array.size == 0:
        array = array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {array.shape}")
    # Checks in numpy: a handful of torch ops on tiny tensors costs more than the CIoU itself.
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has a non-finite coordinate: {array.tolist()}")
    if ((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])).any():
        raise ValueError(f"{name} has a box with x2 <= x1 or y2 <= y1 (expected [x1, y1, x2, y2]): {array.tolist()}")
    return torch.from_numpy(array)


def spatial_grounding_reward(pred_boxes: BoxesLike, gt_boxes: BoxesLike) -> float:
    """SPEC §1 R_G: Hungarian-matched CIoU of predicted against ground-truth boxes.

    ``R_G = max_M Σ_{(i,j)∈M} max(CIoU(p_i, g_j), 0) / max(#pred, #gt)``, over one-to-one
    matchings ``M`` between predicted and ground-truth boxes, with the pairwise CIoU from
    ``torchvision.ops.complete_box_iou`` and ``M`` from ``scipy.optimize.linear_sum_assignment``.
    The matching maximises the clipped sum that R_G reports (maximising raw CIoU can prefer a
    pair with negative CIoU and so lose a positive one). Unmatched boxes on either side count
    through the denominator, so missing and extra boxes both cost. ``R_G ∈ [0, 1]``; 1 iff the
    sets coincide. No predicted box: 0.0.

    Raises ``ValueError`` when ``gt_boxes`` is empty — the channel is then not applicable and the
    caller sets its mask — and when a box is non-finite or has ``x2 <= x1`` or ``y2 <= y1``
    (:func:`parse_bboxes` never returns such boxes).

    >>> spatial_grounding_reward([[0, 0, 10, 10]], [[0, 0, 10, 10], [50, 50, 60, 60]])
    0.5
    """
    gt = _box_tensor(gt_boxes, "gt_boxes")
    if gt.shape[0] == 0:
        raise ValueError("gt_boxes is empty: spatial grounding is not applicable to this sample")
    pred = _box_tensor(pred_boxes, "pred_boxes")
    if pred.shape[0] == 0:
        return 0.0
    gain = complete_box_iou(pred, gt).clamp_min(0.0).numpy()
    rows, cols = linear_sum_assignment(gain, maximize=True)
    return float(gain[rows, cols].sum()) / max(pred.shape[0], gt.shape[0])
