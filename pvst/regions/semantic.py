"""The `semantic` method: a torchvision segmentation model (21 VOC classes) with the user's
weights; labels the style photo lacks go to the background."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pvst.errors import PvstError
from pvst.params import SegmentationParams
from pvst.regions.labels import Found, cost_labels, merged_style_labels


def find(frames, flows, style, params: SegmentationParams) -> Found:
    """Every frame labelled by the model's class scores (stable along the flow)."""
    from pvst.device import pick_device

    sem = params.semantic
    device = pick_device(sem.device)
    net = load_semantic(sem.weights, sem.model, device)

    def costs(image: np.ndarray) -> np.ndarray:
        return -semantic_scores(net, image, device)

    return Found(
        cost_labels(frames, flows, costs, params),
        merged_style_labels(semantic_scores(net, style, device).argmax(-1), style, params),
        list(VOC_CLASSES),
        preferred=0,  # background
    )


# -- semantic segmentation (torchvision) -------------------------------------------------------
SEMANTIC_MODELS = (
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "fcn_resnet50",
    "fcn_resnet101",
    "lraspp_mobilenet_v3_large",
)
VOC_CLASSES = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]


def load_semantic(weights: str | Path | None, model: str, device: str = "cpu"):
    """A torchvision segmentation model (21 VOC classes) with a user's weights file, e.g.
    deeplabv3_resnet50_coco-cd0a2569.pth."""
    import torchvision.models.segmentation as seg

    from pvst.weights import load_checked, read_state

    if model not in SEMANTIC_MODELS:
        raise PvstError(f"semantic.model must be one of {SEMANTIC_MODELS}")
    if not weights or not Path(weights).is_file():
        raise PvstError(
            f"{weights}: weights file for {model} not found. Semantic segmentation needs "
            f"torchvision's {model} weights (COCO with VOC labels) saved where "
            "semantic.weights points; pvst downloads nothing. Without them use "
            "method: auto."
        )
    state = read_state(weights, model)
    aux = any(k.startswith("aux_classifier") for k in state)
    kwargs = {"weights": None, "num_classes": len(VOC_CLASSES), "weights_backbone": None}
    if not model.startswith("lraspp"):
        kwargs["aux_loss"] = aux
    net = getattr(seg, model)(**kwargs)
    load_checked(net, state, weights, model)
    return net.eval().to(device)


def semantic_scores(net, image: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Class log-probabilities (H×W×21) of an RGB uint8 image."""
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    x = torch.from_numpy(np.array(image, np.uint8)).to(device).permute(2, 0, 1)[None]
    x = (x.float() / 255.0 - mean) / std
    with torch.inference_mode():
        out = net(x)["out"]
    return torch.log_softmax(out, 1)[0].permute(1, 2, 0).cpu().numpy()
