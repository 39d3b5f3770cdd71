#!/usr/bin/python3
"""The PyTorch side of `npm run bench:train`: one training run of the recipe Loupe's run used, in its own process
(so the bench times the whole command on both sides), on the same first N Fashion-MNIST images.

The recipe is the run's stored config as `loupe runs --json` gives it (arch, imageSize, channels, width, depth,
dropout, batchSize, optimizer, augment) plus the normalization the run computed. Models mirror
electron/core/training/models.ts: LeNet-5 (conv 6@5x5 same, pool, conv 16@5x5 valid, pool, fc 120, fc 84, head,
dropout after each fc) and the compact ResNet (3x3 stem, three stages of `depth` basic blocks of width, 2x, 4x,
global average pooling, dropout, head). Images are resized once up front (Loupe's tensor cache does the same);
with augmentation on, torchvision's RandomResizedCrop, RandomRotation and ColorJitter run per image in a
DataLoader with --workers worker processes.

  /usr/bin/python3 bench/torch_train.py --data-dir D --recipe JSON --epochs E --train N --test M
                                        [--threads cores|default] [--workers 2]

Prints one JSON line per epoch ({"epoch", "images", "seconds", "loss"}: first to last batch), then
{"testAccuracy", "threads", "torch", "torchvision"}.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise SystemExit(f"{path}: not an IDX file of the expected kind")
    rank = got & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(data_dir, split, count, size, channels):
    """uint8 N,C,size,size: squash-resized once (bilinear), grey repeated to 3 channels when the recipe says so."""
    images = read_idx(f"{data_dir}/{split}-images-idx3-ubyte.gz", 0x0803)[:count]
    labels = read_idx(f"{data_dir}/{split}-labels-idx1-ubyte.gz", 0x0801)[:count]
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    if size != x.shape[-1]:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)
    if channels == 3:
        x = x.repeat(1, 3, 1, 1)
    return x, torch.from_numpy(labels.astype(np.int64))


def lenet(size, channels, classes, dropout):
    after = ((size // 2) - 4) // 2
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * after * after, 120), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(120, 84), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(84, classes),
    )


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        # Keras' BatchNormalization momentum 0.9 is PyTorch's 0.1.
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


def resnet(channels, classes, width, depth, dropout):
    layers = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width, eps=1e-5, momentum=0.1), nn.ReLU()]
    cin = width
    for stage, cout in enumerate([width, width * 2, width * 4]):
        for b in range(depth):
            layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def optimizer(params, spec):
    if spec["kind"] == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum", 0.9), nesterov=spec.get("nesterov", False))
    if spec["kind"] == "adam":
        return torch.optim.Adam(params, lr=spec["lr"], betas=(spec.get("beta1", 0.9), spec.get("beta2", 0.999)))
    return torch.optim.RMSprop(params, lr=spec["lr"], alpha=spec.get("decay", 0.9), momentum=spec.get("momentum", 0))


class Augmented(torch.utils.data.Dataset):
    """Loupe's augmentations in torchvision: crop area in [cropScale, 1] at aspect 3/4..4/3, rotation, jitter."""

    def __init__(self, x, y, size, aug, mean, std):
        from torchvision import transforms as v1
        steps = []
        if aug.get("cropScale", 0) > 0:
            steps.append(v1.RandomResizedCrop(size, scale=(aug["cropScale"], 1.0), ratio=(3 / 4, 4 / 3), antialias=True))
        if aug.get("hflip"):
            steps.append(v1.RandomHorizontalFlip())
        if aug.get("vflip"):
            steps.append(v1.RandomVerticalFlip())
        if aug.get("rotation", 0) > 0:
            steps.append(v1.RandomRotation(aug["rotation"], interpolation=v1.InterpolationMode.BILINEAR))
        if aug.get("brightness", 0) > 0 or aug.get("contrast", 0) > 0:
            steps.append(v1.ColorJitter(brightness=aug.get("brightness", 0), contrast=aug.get("contrast", 0)))
        steps += [v1.ConvertImageDtype(torch.float32), v1.Normalize(mean, std)]
        self.x, self.y, self.transform = x, y, v1.Compose(steps)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.transform(self.x[i]), self.y[i]


def augmentation_on(aug):
    return aug.get("cropScale", 0) > 0 or aug.get("hflip") or aug.get("vflip") or aug.get("rotation", 0) > 0 or aug.get("brightness", 0) > 0 or aug.get("contrast", 0) > 0


def train_epoch(model, opt, loss_fn, batches, epoch, device="cpu"):
    """One epoch over (x, y) batches, timed from the first batch to the last; prints the line the bench reads.
    loss.item() each step waits for the device, so a GPU's time is all inside the timed span."""
    total, seen = 0.0, 0
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        seen += len(y)
    seconds = time.perf_counter() - start
    print(json.dumps({"epoch": epoch, "images": seen, "seconds": seconds, "loss": total / max(seen, 1)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--train", type=int, required=True)
    ap.add_argument("--test", type=int, required=True)
    ap.add_argument("--threads", default="cores", choices=["cores", "default"])
    ap.add_argument("--workers", type=int, default=2)
    # bench:gpu: CUDA when this machine has it (PyTorch at its best), else the CPU.
    ap.add_argument("--device", default="cpu", choices=["cpu", "auto"])
    args = ap.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu"
    if args.threads == "cores":
        torch.set_num_threads(os.cpu_count() or 1)
    r = json.loads(args.recipe)
    torch.manual_seed(r.get("seed", 42))
    size, channels, batch = r["imageSize"], r["channels"], r["batchSize"]
    # Loupe's normalization works on pixels scaled to 0..1, as ConvertImageDtype gives.
    mean = list(r["mean"]) * (channels // len(r["mean"]))
    std = list(r["std"]) * (channels // len(r["std"]))
    train_x, train_y = load(args.data_dir, "train", args.train, size, channels)
    test_x, test_y = load(args.data_dir, "t10k", args.test, size, channels)
    m_t = torch.tensor(mean).view(1, -1, 1, 1)
    s_t = torch.tensor(std).view(1, -1, 1, 1)
    norm = lambda x: (x.to(device).float() / 255 - m_t) / s_t  # noqa: E731
    classes = 10
    if r["arch"] == "lenet5":
        model = lenet(size, channels, classes, r["dropout"])
    elif r["arch"] == "resnet":
        model = resnet(channels, classes, r["width"], r["depth"], r["dropout"])
    else:
        raise SystemExit(f"torch_train.py: arch {r['arch']} is not mirrored here")
    model = model.to(device)
    m_t, s_t = m_t.to(device), s_t.to(device)
    opt = optimizer(model.parameters(), r["optimizer"])
    loss_fn = nn.CrossEntropyLoss()
    aug = r.get("augment", {})
    loader = None
    if augmentation_on(aug):
        loader = torch.utils.data.DataLoader(Augmented(train_x, train_y, size, aug, mean, std), batch_size=batch, shuffle=True,
                                             num_workers=args.workers, persistent_workers=args.workers > 0)
    for epoch in range(args.epochs):
        model.train()
        if loader is not None:
            batches = iter(loader)
        else:
            order = torch.randperm(len(train_x))
            batches = ((norm(train_x[order[i:i + batch]]), train_y[order[i:i + batch]]) for i in range(0, len(train_x), batch))
        train_epoch(model, opt, loss_fn, batches, epoch, device)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test_x), 256):
            correct += (model(norm(test_x[i:i + 256])).argmax(1).cpu() == test_y[i:i + 256]).sum().item()
    print(json.dumps({"testAccuracy": correct / max(len(test_x), 1), "threads": torch.get_num_threads(), "device": device,
                      "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None, "torch": torch.__version__, "torchvision": torchvision.__version__}), flush=True)


if __name__ == "__main__":
    main()
