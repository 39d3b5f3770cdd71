#!/usr/bin/python3
"""Writes the small ONNX fixtures of tests/fixtures/onnx (issue 12): width-reduced torchvision networks with the
operator sets of ResNet-18, MobileNetV2, MobileNetV3-Small, EfficientNet-B0 and DenseNet-121, random weights,
fitted a few steps on generated images and with batch-norm statistics recomputed, so that their outputs depend on
the input (a random deep net answers nearly the same for every image and would hide a layout mistake).

Offline and deterministic: Debian's python3-torch 1.13 and python3-torchvision 0.14, no download.
Run with /usr/bin/python3 scripts/make-onnx-fixtures.py; the tests read the files, never Python.

With --full DIR [NAME...] it writes the full-size torchvision networks of issue 12 instead (ResNet-18/34/50,
MobileNetV2, MobileNetV3-Small/Large, EfficientNet-B0, DenseNet-121, or the ones named; 224 px, 1000 classes,
batch-norm statistics recomputed on random images), too large to commit: tests/medium/onnx-full-nets.test.ts and
bench:transfer make them into a cache folder. Beside each NAME.onnx: NAME.expected.json, torch's logits for the
FULL_INPUTS images of DIR/inputs.bin (float32, N x 3 x 224 x 224).

It also writes mobilenetv2-fashion-0-4.onnx, the same small MobileNetV2 trained in PyTorch on Fashion-MNIST classes
0-4 (Debian's dataset-fashion-mnist; 32 px, grey replicated to RGB, ImageNet normalization, as Loupe feeds it),
and mobilenetv2-fashion-random.onnx, the same network untrained: a hospital's ImageNet network and its
from-scratch baseline, in miniature.

Besides each NAME.onnx it writes inputs.bin (float32, N x 3 x SIZE x SIZE, NCHW, already normalized) and
expected.json: torch's own outputs (logits) for those inputs, per network.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torchvision.models import DenseNet, MobileNetV2
from torchvision.models.efficientnet import EfficientNet, MBConvConfig
from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3
from torchvision.models.resnet import BasicBlock

SIZE = 32
CLASSES = 10
INPUTS = 4
OPSET = 13
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'onnx')


class TinyResNet(nn.Module):
    """torchvision's ResNet-18 layout (7x7/2 stem, 3x3/2 max pool, BasicBlocks with 1x1/2 downsampling, global
    average pool, flatten, fc) at 1/8 of its width and one block per stage."""

    def __init__(self, width=8, classes=CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks = []
        inplanes = width
        for i, planes in enumerate([width, width * 2, width * 4, width * 8]):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != planes:
                down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
            blocks.append(BasicBlock(inplanes, planes, stride, down))
            inplanes = planes
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


def mobilenet_v2():
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2], [6, 64, 1, 2]]
    m = MobileNetV2(num_classes=CLASSES, width_mult=0.5, inverted_residual_setting=setting)
    # torchvision keeps the last 1x1 conv at 1280 channels whatever the width; shrink it to stay small.
    last_in = m.features[-1][0].in_channels
    m.features[-1] = type(m.features[-1])(last_in, 128, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
    m.classifier[1] = nn.Linear(128, CLASSES)
    return m


def mobilenet_v3_small():
    w = 0.5
    setting = [
        InvertedResidualConfig(16, 3, 16, 16, True, 'RE', 2, 1, w),
        InvertedResidualConfig(16, 3, 72, 24, False, 'RE', 2, 1, w),
        InvertedResidualConfig(24, 5, 96, 40, True, 'HS', 2, 1, w),
        InvertedResidualConfig(40, 5, 120, 40, True, 'HS', 1, 1, w),
    ]
    return MobileNetV3(setting, last_channel=128, num_classes=CLASSES)


def efficientnet_b0():
    w, d = 0.5, 0.5
    setting = [
        MBConvConfig(1, 3, 1, 32, 16, 1, w, d),
        MBConvConfig(6, 3, 2, 16, 24, 2, w, d),
        MBConvConfig(6, 5, 2, 24, 40, 2, w, d),
        MBConvConfig(6, 3, 2, 40, 80, 2, w, d),
    ]
    return EfficientNet(setting, dropout=0.2, num_classes=CLASSES, last_channel=128)


def densenet():
    return DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2, num_classes=CLASSES)


NETWORKS = {
    'resnet18-tiny': TinyResNet,
    'mobilenetv2-tiny': mobilenet_v2,
    'mobilenetv3-small-tiny': mobilenet_v3_small,
    'efficientnet-b0-tiny': efficientnet_b0,
    'densenet-tiny': densenet,
}


def images(n, generator):
    """Class-dependent generated images: a class is a stripe orientation and frequency plus a colour cast."""
    labels = torch.randint(0, CLASSES, (n,), generator=generator)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing='ij')
    out = torch.empty(n, 3, SIZE, SIZE)
    for i, c in enumerate(labels.tolist()):
        angle = c * 3.14159 / CLASSES
        wave = torch.sin((xx * torch.cos(torch.tensor(angle)) + yy * torch.sin(torch.tensor(angle))) * (2 + c))
        for ch in range(3):
            out[i, ch] = wave * (0.5 + 0.5 * ((c + ch) % 3)) + 0.3 * torch.randn(SIZE, SIZE, generator=generator)
    return out, labels


def fit_and_calibrate(model, generator):
    x, y = images(256, generator)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(40):
        idx = torch.randint(0, len(x), (32,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Recompute the batch-norm statistics over the whole set (cumulative average), as a trained net would have.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for i in range(0, len(x), 64):
            model(x[i:i + 64])
    model.eval()
    return float(loss)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(1)
    inputs, _ = images(INPUTS, generator)
    inputs.numpy().astype('<f4').tofile(os.path.join(OUT, 'inputs.bin'))
    expected = {'size': SIZE, 'inputs': INPUTS, 'classes': CLASSES, 'opset': OPSET, 'outputs': {}}
    for name, make in NETWORKS.items():
        torch.manual_seed(2)
        model = make()
        loss = fit_and_calibrate(model, generator)
        path = os.path.join(OUT, name + '.onnx')
        torch.onnx.export(model, inputs[:1], path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
        with torch.no_grad():
            logits = model(inputs)
        spread = float(logits.std(0).mean())
        expected['outputs'][name] = logits.tolist()
        print(f'{name}: {os.path.getsize(path) // 1024} KB, final loss {loss:.3f}, output spread over inputs {spread:.3f}', file=sys.stderr)
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')
    fashion_pretrained(OUT)


FASHION = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def fashion_0_4(per_class=1000):
    import gzip
    import numpy as np
    with gzip.open(FASHION) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION.replace('images-idx3', 'labels-idx1')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    picked = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(5)])
    x = torch.from_numpy(images[picked].astype('float32') / 255).unsqueeze(1)
    x = nn.functional.interpolate(x, size=(SIZE, SIZE), mode='bilinear', align_corners=False).repeat(1, 3, 1, 1)
    return (x - MEAN) / STD, torch.from_numpy(labels[picked].astype('int64'))


def fashion_pretrained(out):
    def small():
        m = mobilenet_v2()
        m.classifier[1] = nn.Linear(128, 5)
        return m
    torch.manual_seed(3)
    export = lambda model, name: torch.onnx.export(model.eval(), torch.zeros(1, 3, SIZE, SIZE), os.path.join(out, name), opset_version=OPSET,
                                                   input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    export(small(), 'mobilenetv2-fashion-random.onnx')
    model = small()
    x, y = fashion_0_4()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(4)
    for epoch in range(4):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(x[:2000:7]).argmax(1) == y[:2000:7]).float().mean())
        print(f'fashion 0-4 epoch {epoch + 1}: loss {float(loss):.3f}, train accuracy {acc:.3f}', file=sys.stderr)
    export(model, 'mobilenetv2-fashion-0-4.onnx')


FULL_NETWORKS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large', 'efficientnet_b0', 'densenet121']
FULL_INPUTS = 2


def full(out, names):
    """Each network gets its own seed, so a subset (the bench needs only resnet18) writes the same files as all eight."""
    import torchvision.models as tm
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    calibration = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    inputs = torch.randn(FULL_INPUTS, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    inputs.numpy().astype('<f4').tofile(os.path.join(out, 'inputs.bin'))
    for name in names:
        if name not in FULL_NETWORKS:
            raise SystemExit(f'--full takes network names among {", ".join(FULL_NETWORKS)}; got {name}')
        torch.manual_seed(100 + FULL_NETWORKS.index(name))
        model = getattr(tm, name)(weights=None)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        with torch.no_grad():
            model(calibration)
        model.eval()
        path = os.path.join(out, name + '.onnx')
        torch.onnx.export(model, calibration[:1], path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
        with torch.no_grad():
            logits = model(inputs)
        with open(os.path.join(out, name + '.expected.json'), 'w') as f:
            json.dump({'size': 224, 'inputs': FULL_INPUTS, 'classes': 1000, 'outputs': logits.tolist()}, f)
        print(f'{name}: {os.path.getsize(path) // 2 ** 20} MB', file=sys.stderr)


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == '--full':
        full(sys.argv[2], sys.argv[3:] or FULL_NETWORKS)
    else:
        main()
