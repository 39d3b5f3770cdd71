#!/usr/bin/python3
"""The PyTorch side of `npm run bench:export`: the exported bundle's model rebuilt in PyTorch with the bundle's
weights (model.json + weights.bin), run on the same PNG files with the bundle's preprocessing (PIL decode, the
normalization of preprocessing.json). Prints one JSON object: timings (decode + inference, and inference alone)
and the probabilities, so the bench can check both engines agree.

Handles the chain models Loupe builds (Conv2D, MaxPooling2D, Flatten, Dense, Dropout, Activation); enough for
LeNet-5 and the custom CNN.

  /usr/bin/python3 bench/export_torch.py <bundle> <file-list.txt>
"""
import json
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn


class NhwcFlatten(nn.Module):
    """Keras flattens H·W·C; torch tensors here are N·C·H·W."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def build(bundle):
    model_json = json.load(open(f"{bundle}/model.json"))
    specs = [w for g in model_json["weightsManifest"] for w in g["weights"]]
    raw = b"".join(open(f"{bundle}/{p}", "rb").read() for g in model_json["weightsManifest"] for p in g["paths"])
    weights, offset = {}, 0
    for s in specs:
        n = int(np.prod(s["shape"])) if s["shape"] else 1
        weights[s["name"]] = np.frombuffer(raw, dtype=np.float32, count=n, offset=offset).reshape(s["shape"])
        offset += n * 4
    layers = []
    for layer in model_json["modelTopology"]["config"]["layers"]:
        kind, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        if kind == "InputLayer" or kind == "Dropout":
            continue
        if kind == "Conv2D":
            k = weights[f"{name}/kernel"]  # HWIO
            kh, kw, cin, cout = k.shape
            pad = (kh // 2) if cfg["padding"] == "same" else 0
            conv = nn.Conv2d(cin, cout, (kh, kw), stride=tuple(cfg["strides"]), padding=pad)
            conv.weight.data = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
            conv.bias.data = torch.from_numpy(weights[f"{name}/bias"].copy())
            layers.append(conv)
        elif kind == "MaxPooling2D":
            layers.append(nn.MaxPool2d(tuple(cfg["pool_size"]), stride=tuple(cfg["strides"] or cfg["pool_size"])))
        elif kind == "Flatten":
            layers.append(NhwcFlatten())
        elif kind == "Dense":
            k = weights[f"{name}/kernel"]  # in × out
            dense = nn.Linear(k.shape[0], k.shape[1])
            dense.weight.data = torch.from_numpy(np.ascontiguousarray(k.T))
            dense.bias.data = torch.from_numpy(weights[f"{name}/bias"].copy())
            layers.append(dense)
        elif kind == "Activation":
            pass
        else:
            raise SystemExit(f"export_torch.py: layer {name} ({kind}) is not handled")
        activation = cfg.get("activation")
        if activation == "relu":
            layers.append(nn.ReLU())
        elif activation == "softmax":
            layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers).eval()


def main():
    bundle, file_list = sys.argv[1], sys.argv[2]
    pre = json.load(open(f"{bundle}/preprocessing.json"))
    size, channels = pre["imageSize"], pre["channels"]
    mean = np.array(pre["normalization"]["mean"], dtype=np.float32)
    std = np.array(pre["normalization"]["std"], dtype=np.float32)
    model = build(bundle)
    files = [line.strip() for line in open(file_list) if line.strip()]
    batch = 256
    probs = []
    infer_seconds = 0.0
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(files), batch):
            pixels = []
            for f in files[b:b + batch]:
                image = Image.open(f).convert("L" if channels == 1 else "RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BILINEAR)
                pixels.append(np.asarray(image, dtype=np.float32).reshape(size, size, channels))
            x = (np.stack(pixels) / 255.0 - mean) / std
            t = time.perf_counter()
            out = model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)))
            infer_seconds += time.perf_counter() - t
            probs.append(out.numpy())
    total = time.perf_counter() - start
    p = np.concatenate(probs)
    print(json.dumps({
        "images": len(files),
        "seconds": total,
        "imagesPerSecond": len(files) / total,
        "inferSeconds": infer_seconds,
        "inferImagesPerSecond": len(files) / infer_seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "probs": np.round(p, 7).tolist(),
    }))


if __name__ == "__main__":
    main()
