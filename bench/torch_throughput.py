"""Training throughput of the reference MLP and CNN in PyTorch, one thread, batch 128, Adam 1e-3.
Usage: torch_throughput.py SECONDS -> JSON {version, blas, mlp, cnn} (samples/s) on stdout."""
import json
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)
seconds = float(sys.argv[1])


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def throughput(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(128, 1, 28, 28)
    y = torch.arange(128) % 10

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    start, steps = time.perf_counter(), 0
    while True:
        step()
        steps += 1
        if time.perf_counter() - start >= seconds:
            break
    return steps * 128 / (time.perf_counter() - start)


config = torch.__config__.show()
blas_info = config.split("BLAS_INFO=")[1].split(",")[0].strip() if "BLAS_INFO=" in config else "unknown"
blas = {"generic": "system BLAS", "open": "OpenBLAS", "mkl": "MKL"}.get(blas_info, blas_info)
if blas_info == "generic":
    # Debian's generic build uses whichever libblas the alternatives system points at.
    import glob
    import os

    links = [os.path.realpath(p) for p in glob.glob("/etc/alternatives/libblas.so*")]
    blas = "OpenBLAS" if any("openblas" in p for p in links) else "reference BLAS"
print(json.dumps({"version": torch.__version__, "blas": blas, "mlp": throughput(mlp()), "cnn": throughput(cnn())}))
