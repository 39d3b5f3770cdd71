#!/usr/bin/python3
"""The PyTorch side of `npm run bench:transfer`: torchvision's ResNet-18 (random weights, as the ONNX file Loupe
imported) on the first N Fashion-MNIST training images, squash-resized once to 224 px (bilinear), grey repeated to
RGB, ImageNet normalization: what Loupe feeds an imported backbone with the `imagenet` preset.

  finetune  every layer trainable, a fresh 10-class fc, batch B, Adam lr 0.001, E epochs in training mode;
            prints one JSON line per epoch ({"epoch", "images", "seconds", "loss"}: first to last batch)
  head      the frozen network without its fc computes every image's 512 features (eval mode, batch B), then a
            Linear(512, 10) trains on them for E epochs (Adam lr 0.001, batch B, shuffled);
            prints {"featureSeconds", "headSeconds", "loss"}

Then {"threads", "torch", "torchvision"}. The bench times the whole process from spawn to exit.

  /usr/bin/python3 bench/torch_transfer.py finetune|head --data-dir D --train N --epochs E [--batch 32] [--threads cores|default]
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from torch_train import read_idx, train_epoch  # bench/ is this script's own folder, first on sys.path

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load(data_dir, count):
    """uint8 N,3,224,224 and labels: resized once up front, as Loupe's tensor cache holds them."""
    images = read_idx(f"{data_dir}/train-images-idx3-ubyte.gz", 0x0803)[:count]
    labels = read_idx(f"{data_dir}/train-labels-idx1-ubyte.gz", 0x0801)[:count]
    x = torch.from_numpy(images.copy()).unsqueeze(1).float()
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)
    return x.repeat(1, 3, 1, 1), torch.from_numpy(labels.astype(np.int64))


def norm(x):
    return (x.float() / 255 - MEAN) / STD


def finetune(x, y, batch, epochs, device="cpu"):
    model = torchvision.models.resnet18(weights=None, num_classes=10).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        batches = ((norm(x[order[i:i + batch]]), y[order[i:i + batch]]) for i in range(0, len(x), batch))
        train_epoch(model, opt, loss_fn, batches, epoch, device)


def head(x, y, batch, epochs):
    backbone = torchvision.models.resnet18(weights=None)
    backbone.fc = nn.Identity()
    backbone.eval()
    start = time.perf_counter()
    with torch.no_grad():
        features = torch.cat([backbone(norm(x[i:i + batch])) for i in range(0, len(x), batch)])
    feature_seconds = time.perf_counter() - start
    classifier = nn.Linear(features.shape[1], 10)
    opt = torch.optim.Adam(classifier.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(features))
        for i in range(0, len(features), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(classifier(features[idx]), y[idx])
            loss.backward()
            opt.step()
    print(json.dumps({"featureSeconds": feature_seconds, "headSeconds": time.perf_counter() - start, "loss": float(loss)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["finetune", "head"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--train", type=int, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", default="cores", choices=["cores", "default"])
    # bench:gpu: CUDA when this machine has it, else the CPU (fine-tuning only).
    ap.add_argument("--device", default="cpu", choices=["cpu", "auto"])
    args = ap.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu"
    if args.threads == "cores":
        torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    x, y = load(args.data_dir, args.train)
    if args.mode == "finetune":
        finetune(x, y, args.batch, args.epochs, device)
    else:
        head(x, y, args.batch, args.epochs)
    print(json.dumps({"threads": torch.get_num_threads(), "device": device, "torch": torch.__version__, "torchvision": torchvision.__version__}), flush=True)


if __name__ == "__main__":
    main()
