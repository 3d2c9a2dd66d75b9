"""PyTorch reference for dtrain's parity tests.

Usage: reference.py CASES OUT | reference.py model STATE OUT
Reads CASES (safetensors: inputs "<case>.<i>", weights "<case>.w"; the case list and parameters in
the "cases" metadata entry, JSON), runs each case in PyTorch, and writes OUT (safetensors) with
"<case>.out" and "<case>.grad.<i>", the gradients of sum(out * w) for every float input.
Also supports "model" cases: load a state dict written by dtrain into the equivalent torch module.
The safetensors files are read and written here with struct + json (the format is that simple),
so only torch is needed.
"""
import json
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[b:end]), dtype=DTYPES[e["dtype"]]) if end > b else torch.zeros(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def save(path, tensors, meta=None):
    header, blobs, offset = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run_op(op, p, xs):
    if op == "conv2d":
        return F.conv2d(xs[0], xs[1], xs[2], stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=p.get("groups", 1))
    if op == "conv1d":
        return F.conv1d(xs[0], xs[1], xs[2], stride=p["stride"], padding=p["padding"], dilation=p["dilation"])
    if op == "max_pool2d":
        return F.max_pool2d(xs[0], p["kernel"], stride=p["stride"], padding=p["padding"], ceil_mode=p.get("ceil_mode", False))
    if op == "avg_pool2d":
        return F.avg_pool2d(
            xs[0],
            p["kernel"],
            stride=p["stride"],
            padding=p["padding"],
            ceil_mode=p.get("ceil_mode", False),
            count_include_pad=p.get("count_include_pad", True),
        )
    if op == "batch_norm":
        return F.batch_norm(xs[0], None, None, xs[1], xs[2], training=True, eps=1e-5)
    if op == "layer_norm":
        return F.layer_norm(xs[0], p["shape"], xs[1], xs[2], eps=1e-5)
    if op == "gelu":
        return F.gelu(xs[0])
    if op == "elu":
        return F.elu(xs[0], alpha=p["alpha"])
    if op == "leaky_relu":
        return F.leaky_relu(xs[0], p["slope"])
    if op == "softplus":
        return F.softplus(xs[0], beta=p["beta"])
    if op == "log_softmax":
        return F.log_softmax(xs[0], dim=p["dim"])
    if op == "logsumexp":
        return torch.logsumexp(xs[0], dim=p["dim"])
    if op == "matmul":
        return torch.matmul(xs[0], xs[1])
    if op == "cross_entropy":
        return F.cross_entropy(xs[0], xs[1].long(), label_smoothing=p.get("smoothing", 0.0), reduction="none")
    if op == "bce_logits":
        return F.binary_cross_entropy_with_logits(xs[0], xs[1], reduction="none")
    if op == "multi_margin":
        return F.multi_margin_loss(xs[0], xs[1].long(), margin=p["margin"], reduction="none")
    if op == "huber":
        return F.huber_loss(xs[0], xs[1], delta=p["delta"], reduction="none")
    raise ValueError(f"unknown op {op}")


def run_optimizer(p, tensors, name):
    param = tensors[f"{name}.param"].clone().requires_grad_(True)
    kind = p["kind"]
    hyper = p["hyper"]
    if kind == "sgd":
        opt = torch.optim.SGD([param], **hyper)
    elif kind == "adam":
        opt = torch.optim.Adam([param], **hyper)
    else:
        opt = torch.optim.AdamW([param], **hyper)
    for s in range(p["steps"]):
        opt.zero_grad()
        param.grad = tensors[f"{name}.grad{s}"].clone()
        opt.step()
    return param.detach()


def small_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    )


def model_interop(model_path, out_path):
    """Load dtrain's state dict strictly into the same torch model; answer with its eval output, and
    with a torch-initialized (and once-trained) model's state dict and output for the reverse check."""
    state, _ = load(model_path)
    x = state.pop("input")
    model = small_cnn()
    model.load_state_dict(state, strict=True)
    model.eval()
    ours = model(x).detach()
    torch.manual_seed(0)
    theirs = small_cnn()
    theirs.train()
    theirs(torch.randn(8, 1, 8, 8) * 2 + 1)  # moves the BatchNorm running statistics
    theirs.eval()
    result = {"dtrain_model_output": ours, "torch_model_output": theirs(x).detach()}
    result.update({f"torch.{k}": v for k, v in theirs.state_dict().items()})
    save(out_path, result)


def main():
    if sys.argv[1] == "model":
        model_interop(sys.argv[2], sys.argv[3])
        return
    tensors, meta = load(sys.argv[1])
    cases = json.loads(meta["cases"])
    out = {}
    for case in cases:
        name, op, p, n = case["name"], case["op"], case.get("params", {}), case.get("inputs", 0)
        if op == "optimizer":
            out[f"{name}.out"] = run_optimizer(p, tensors, name)
            continue
        xs = []
        for i in range(n):
            t = tensors[f"{name}.{i}"]
            if t.dtype.is_floating_point and i not in p.get("no_grad", []):
                t = t.clone().requires_grad_(True)
            xs.append(t)
        y = run_op(op, p, xs)
        (y * tensors[f"{name}.w"]).sum().backward()
        out[f"{name}.out"] = y.detach()
        for i, x in enumerate(xs):
            if x.requires_grad:
                out[f"{name}.grad.{i}"] = x.grad
    save(sys.argv[2], out)


if __name__ == "__main__":
    main()
