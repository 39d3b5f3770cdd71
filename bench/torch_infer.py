#!/usr/bin/python3
"""The PyTorch side of `npm run bench:infer`: a Loupe model bundle (model.json + weights, the TF.js Layers format)
run by PyTorch with the bundle's own weights and preprocessing.

The model.json graph is executed layer by layer in its stored (topological) order, so chains (LeNet-5, the
custom CNN) and the compact ResNet (BatchNormalization, Add, GlobalAveragePooling2D) both run. Batch norms after a
convolution are folded into it, as Loupe's inference does, and the rows are timed after one warm-up batch. Tensors are NCHW;
'same' padding is TF's (the extra pixel at the bottom/right when the total is odd).

  torch_infer.py <bundle> --rows FILE --n N [--threads cores|default]
      uint8 rows already at the model's size (no decoding): normalize + forward in batches of 256.
  torch_infer.py <bundle> --files LIST --out CSV [--decoders 4] [--threads cores|default]
      PIL decoding in a pool of --decoders threads, the next batch decoding while this one is predicted (as
      `loupe predict` does with sharp), then the same CSV columns as `loupe predict --out`.
Prints one JSON line: {"images", "seconds", "predictedSum", "threads", "torch"}.
"""
import argparse
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights
from PIL import Image

BATCH = 256


def load_weights(bundle, model_json):
    specs = [w for g in model_json["weightsManifest"] for w in g["weights"]]
    raw = b"".join(open(os.path.join(bundle, p), "rb").read() for g in model_json["weightsManifest"] for p in g["paths"])
    weights, offset = {}, 0
    for s in specs:
        n = int(np.prod(s["shape"])) if s["shape"] else 1
        weights[s["name"]] = torch.from_numpy(np.frombuffer(raw, dtype=np.float32, count=n, offset=offset).reshape(s["shape"]).copy())
        offset += n * 4
    return weights


def same_pad(x, k, s):
    """TF 'same': output ceil(in / s); the odd pixel of padding goes after."""
    h, w = x.shape[2], x.shape[3]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class Graph:
    def __init__(self, bundle):
        model_json = json.load(open(os.path.join(bundle, "model.json")))
        self.w = load_weights(bundle, model_json)
        topology = model_json["modelTopology"]
        config = topology.get("model_config", topology)["config"]
        self.layers = config["layers"]
        self.output = config["output_layers"][0][0]
        for name, t in list(self.w.items()):
            if name.endswith("/kernel") and t.dim() == 4:
                self.w[name] = t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
            elif name.endswith("/kernel") and t.dim() == 2:
                self.w[name] = t.t().contiguous()  # in x out -> out x in
        self.folded = self.fold_batch_norms()

    def fold_batch_norms(self):
        """PyTorch's own inference optimization (torch.nn.utils.fusion.fuse_conv_bn_weights), as Loupe folds its
        batch norms: a BatchNormalization whose input is a Conv2D read by nothing else becomes part of the conv."""
        readers = {}
        for layer in self.layers:
            for n in (layer["inbound_nodes"][0] if layer["inbound_nodes"] else []):
                readers[n[0]] = readers.get(n[0], 0) + 1
        kinds = {layer["name"]: layer["class_name"] for layer in self.layers}
        folded = set()
        for layer in self.layers:
            if layer["class_name"] != "BatchNormalization" or not layer["inbound_nodes"]:
                continue
            conv = layer["inbound_nodes"][0][0][0]
            conv_cfg = next(l["config"] for l in self.layers if l["name"] == conv)
            if kinds.get(conv) != "Conv2D" or readers.get(conv) != 1 or conv_cfg.get("activation", "linear") != "linear":
                continue
            bn, w = layer["name"], self.w[f"{conv}/kernel"]
            bias = self.w.get(f"{conv}/bias") if conv_cfg.get("use_bias", True) else None
            gamma = self.w.get(f"{bn}/gamma", torch.ones(w.shape[0]))
            beta = self.w.get(f"{bn}/beta", torch.zeros(w.shape[0]))
            self.w[f"{conv}/kernel"], self.w[f"{conv}/bias"] = fuse_conv_bn_weights(
                w, bias, self.w[f"{bn}/moving_mean"], self.w[f"{bn}/moving_variance"], layer["config"]["epsilon"], gamma, beta)
            conv_cfg["use_bias"] = True
            folded.add(bn)
        return folded

    def act(self, x, name):
        return {"relu": F.relu, "softmax": lambda t: F.softmax(t, dim=1), "linear": lambda t: t, None: lambda t: t}[name](x)

    def __call__(self, x):
        out = {}
        for layer in self.layers:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            ins = [out[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
            y = ins[0]
            if kind == "InputLayer" or kind == "Dropout":
                pass
            elif kind == "Conv2D":
                k, s = cfg["kernel_size"][0], cfg["strides"][0]
                if cfg["padding"] == "same":
                    y = same_pad(y, k, s)
                y = F.conv2d(y, self.w[f"{name}/kernel"], self.w.get(f"{name}/bias") if cfg.get("use_bias", True) else None, stride=s)
                y = self.act(y, cfg.get("activation"))
            elif kind == "BatchNormalization" and name in self.folded:
                pass
            elif kind == "BatchNormalization":
                y = F.batch_norm(y, self.w[f"{name}/moving_mean"], self.w[f"{name}/moving_variance"], self.w.get(f"{name}/gamma"), self.w.get(f"{name}/beta"), False, 0.0, cfg["epsilon"])
            elif kind == "Activation":
                y = self.act(y, cfg["activation"])
            elif kind == "Add":
                y = ins[0]
                for other in ins[1:]:
                    y = y + other
            elif kind == "MaxPooling2D":
                y = F.max_pool2d(y, cfg["pool_size"][0], (cfg["strides"] or cfg["pool_size"])[0])
            elif kind == "GlobalAveragePooling2D":
                y = y.mean(dim=(2, 3))
            elif kind == "Flatten":
                y = y.permute(0, 2, 3, 1).reshape(y.shape[0], -1)  # Keras flattens H, W, C
            elif kind == "Dense":
                y = self.act(F.linear(y, self.w[f"{name}/kernel"], self.w.get(f"{name}/bias")), cfg.get("activation"))
            else:
                raise SystemExit(f"torch_infer.py: layer {name} ({kind}) is not handled")
            out[name] = y
        return out[self.output]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--rows")
    ap.add_argument("--n", type=int)
    ap.add_argument("--files")
    ap.add_argument("--out")
    ap.add_argument("--decoders", type=int, default=4)
    ap.add_argument("--threads", default="cores", choices=["cores", "default"])
    args = ap.parse_args()
    if args.threads == "cores":
        torch.set_num_threads(os.cpu_count() or 1)
    pre = json.load(open(os.path.join(args.bundle, "preprocessing.json")))
    labels = json.load(open(os.path.join(args.bundle, "labels.json")))
    size, channels = pre["imageSize"], pre["channels"]
    mean = torch.tensor(pre["normalization"]["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(pre["normalization"]["std"], dtype=torch.float32).view(1, -1, 1, 1)
    model = Graph(args.bundle)

    def infer(rows):  # uint8 N,H,W,C
        x = torch.from_numpy(rows).permute(0, 3, 1, 2).float() / 255
        return model((x - mean) / std)

    predicted_sum = 0
    with torch.inference_mode():
        if args.rows:
            rows = np.fromfile(args.rows, dtype=np.uint8).reshape(args.n, size, size, channels)
            infer(rows[:BATCH])  # warm-up, untimed: the first batch sets up the kernels
            start = time.perf_counter()
            for b in range(0, args.n, BATCH):
                predicted_sum += int(infer(rows[b:b + BATCH]).argmax(1).sum())
            seconds = time.perf_counter() - start
            images = args.n
        else:
            start = time.perf_counter()
            files = [line.strip() for line in open(args.files) if line.strip()]

            def decode(path):
                image = Image.open(path).convert("L" if channels == 1 else "RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BILINEAR)
                return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)

            lines = ["path,predicted,confidence," + ",".join(f"p_{label}" for label in labels) + ",error,note"]
            with ThreadPoolExecutor(args.decoders) as pool:
                batches = [files[b:b + BATCH] for b in range(0, len(files), BATCH)]
                pending = pool.map(decode, batches[0]) if batches else None
                for i, batch in enumerate(batches):
                    decoded = np.stack(list(pending))
                    pending = pool.map(decode, batches[i + 1]) if i + 1 < len(batches) else None
                    probs = infer(decoded).numpy()
                    best = probs.argmax(1)
                    predicted_sum += int(best.sum())
                    for path, p, k in zip(batch, probs, best):
                        lines.append(f"{path},{labels[k]},{p[k]:.6f}," + ",".join(f"{v:.6f}" for v in p) + ",,")
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")
            seconds = time.perf_counter() - start
            images = len(files)
    print(json.dumps({"images": images, "seconds": seconds, "predictedSum": predicted_sum, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
