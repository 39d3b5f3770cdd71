#!/usr/bin/python3
"""The PyTorch side of `npm run bench:train` (bench/train-lenet.ts drives it, one epoch at a time, so the two
engines run interleaved on the same machine state).

Same recipe as the tfjs side: LeNet-5 (conv 6@5x5 same, relu, maxpool 2, conv 16@5x5 valid, relu, maxpool 2,
fc 120, fc 84, fc 10), pixels / 255, batch 64, SGD lr 0.01 momentum 0.9, cross-entropy, PyTorch's default
initialisation (the tfjs side copies it). Torch threads: its default (printed).

Protocol: one JSON object per line on stdout, commands on stdin:
  train <epoch>  -> {"epoch", "images", "seconds", "loss"}     (training time only)
  eval           -> {"accuracy", "images", "seconds"}
  load <file>    -> {"loaded"}   weights in PyTorch layout: <file>.json lists [name, shape] in order, <file> holds
                                 the float32 values back to back (bench/eval.ts writes it from Loupe's model)
  quit
"""
import argparse
import gzip
import json
import struct
import sys
import time

import numpy as np
import torch
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


def load(data_dir, split):
    images = read_idx(f"{data_dir}/{split}-images-idx3-ubyte.gz", 0x0803)
    labels = read_idx(f"{data_dir}/{split}-labels-idx1-ubyte.gz", 0x0801)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N,1,28,28
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--limit", type=int, default=0, help="train images per epoch (0 = all)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "t10k")
    n = args.limit or len(train_x)
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)

    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "train":
            epoch = int(cmd[1])
            g = torch.Generator().manual_seed(args.seed * 1000 + epoch)
            order = torch.randperm(len(train_x), generator=g)[:n]
            model.train()
            total, steps = 0.0, 0
            start = time.perf_counter()
            for i in range(0, n - args.batch + 1, args.batch):
                idx = order[i:i + args.batch]
                opt.zero_grad()
                loss = loss_fn(model(train_x[idx]), train_y[idx])
                loss.backward()
                opt.step()
                total += loss.item()
                steps += 1
            seconds = time.perf_counter() - start
            print(json.dumps({"epoch": epoch, "images": steps * args.batch, "seconds": seconds, "loss": total / steps}), flush=True)
        elif cmd[0] == "load":
            with open(cmd[1] + ".json") as f:
                spec = json.load(f)
            raw = np.fromfile(cmd[1], dtype=np.float32)
            params = dict(model.named_parameters())
            offset = 0
            with torch.no_grad():
                for name, shape in spec:
                    size = int(np.prod(shape))
                    params[name].copy_(torch.from_numpy(raw[offset:offset + size].reshape(shape)))
                    offset += size
            print(json.dumps({"loaded": len(spec)}), flush=True)
        elif cmd[0] == "eval":
            model.eval()
            start = time.perf_counter()
            correct = 0
            predicted = []
            with torch.no_grad():
                for i in range(0, len(test_x), 256):
                    # Softmax included, as Loupe's model ends in one: the same work on both sides.
                    p = torch.softmax(model(test_x[i:i + 256]), dim=1).argmax(1)
                    correct += (p == test_y[i:i + 256]).sum().item()
                    predicted.append(p)
            seconds = time.perf_counter() - start
            checksum = int(torch.cat(predicted).sum().item())
            print(json.dumps({"accuracy": correct / len(test_x), "images": len(test_x), "seconds": seconds, "predictedSum": checksum}), flush=True)


if __name__ == "__main__":
    main()
