#!/usr/bin/env python3
"""Lab 1's training loop in PyTorch, timed on one thread: the reference for bench_core.

Usage: python3 torch_lab.py [--steps 1000] [--repeats 3] [--warmup 100]

The model, data and optimizer of shared/lab/lab-01-init-ablation.txt as a student writes them:
a 12-layer ReLU MLP of width 256 (input 256, 2 classes), Kaiming N(0, 2/n_in) weights and zero
biases, SGD momentum 0.9 lr 1e-3, batch 64, float32, cross-entropy, the loss read every step;
synthetic data (1000 Gaussian examples of 256 dims, label = sum of the first 10 dims >= 0),
reshuffled each epoch, the last partial batch dropped. Two loops are timed:
  plain     the lab loop (zero_grad, forward, loss, backward, step, loss.item())
  gradnorm  the same plus the L2 norm of all weight gradients, which Ablate's step also computes
It also reports which BLAS torch's float32 GEMM (sgemm_) resolves to. A benchmark: it prints
numbers as "key: value" lines (bench_core reads them) and asserts nothing.
"""

import os

# Before torch loads: OpenBLAS (pthread build) sizes its own pool from these, not from
# torch.set_num_threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def make_data(gen, n=1000, dim=256, label_dims=10):
    x = torch.randn(n, dim, generator=gen)
    y = (x[:, :label_dims].sum(dim=1) >= 0).long()
    return x, y


def make_model(seed, depth=12, width=256, input_dim=256, classes=2):
    torch.manual_seed(seed)
    layers = []
    for i in range(depth):
        fan_in = input_dim if i == 0 else width
        out = classes if i == depth - 1 else width
        linear = nn.Linear(fan_in, out)
        with torch.no_grad():
            linear.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)  # Kaiming N(0, 2/n_in)
            linear.bias.zero_()
        layers.append(linear)
        if i != depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train(steps, x, y, grad_norm, batch=64, seed=103, data_seed=1):
    """Returns (total seconds, each step's seconds, losses)."""
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    gen = torch.Generator().manual_seed(data_seed)
    n = x.shape[0]
    order, pos = None, n
    losses, each = [], []
    start = time.perf_counter()
    for _ in range(steps):
        step_start = time.perf_counter()
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        if grad_norm:
            torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(w.grad) for w in weights])).item()
        opt.step()
        losses.append(loss.item())
        each.append(time.perf_counter() - step_start)
    return time.perf_counter() - start, each, losses


def blas_report():
    """Which library provides the sgemm_ that torch's float32 matmul calls."""
    a = torch.randn(256, 256)
    (a @ a).sum().item()  # make sure the BLAS is loaded and used
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps
                       if re.search(r"(blas|lapack|mkl|dnnl)[^/]*\.so", line.split()[-1])})
    print("torch_libraries_loaded: " + ", ".join(libs))

    # dlsym through libtorch_cpu's own dependency scope, then dladdr to name the library.
    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
    try:
        torch_cpu = next(line.split()[-1] for line in open("/proc/self/maps")
                         if "libtorch_cpu.so" in line)
        handle = ctypes.CDLL(torch_cpu, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        addr = ctypes.cast(handle.sgemm_, ctypes.c_void_p)
        libc = ctypes.CDLL(None)
        info = DlInfo()
        if libc.dladdr(addr, ctypes.byref(info)):
            print("torch_sgemm_from: " + os.path.realpath(info.dli_fname.decode()))
    except (StopIteration, OSError, AttributeError) as error:
        print("torch_sgemm_from: unknown (%s)" % error)

    if shutil.which("update-alternatives"):
        out = subprocess.run(["update-alternatives", "--display", "libblas.so.3-x86_64-linux-gnu"],
                             capture_output=True, text=True).stdout
        current = re.search(r"currently points to (\S+)", out)
        if current:
            path = current.group(1)
            kind = "OpenBLAS" if "openblas" in path else (
                "reference BLAS" if "/blas/" in path else "other")
            print("libblas_alternative: %s (%s)" % (path, kind))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()

    torch.set_num_threads(1)
    print("torch_version: " + torch.__version__)
    config = torch.__config__.show()
    blas_info = re.search(r"BLAS_INFO=(\w+)", config)
    capability = re.search(r"CPU capability usage: (\w+)", config)
    print("torch_build: BLAS_INFO=%s, CPU capability %s, mkldnn %s" % (
        blas_info.group(1) if blas_info else "?", capability.group(1) if capability else "?",
        torch.backends.mkldnn.is_available()))
    blas_report()
    print("torch_threads: %d (OPENBLAS_NUM_THREADS=%s)" % (
        torch.get_num_threads(), os.environ.get("OPENBLAS_NUM_THREADS")))

    x, y = make_data(torch.Generator().manual_seed(1))
    for key, grad_norm in (("torch", False), ("torch_gradnorm", True)):
        train(args.warmup, x, y, grad_norm)
        rates, all_steps = [], []
        for _ in range(args.repeats):
            seconds, each, losses = train(args.steps, x, y, grad_norm)
            rates.append(args.steps / seconds)
            all_steps += each
        print("%s_steps_per_s_runs: %s; final loss %.6g" % (
            key, " ".join("%.1f" % r for r in rates), losses[-1]))
        print("%s_steps_per_s_best: %.1f" % (key, max(rates)))
        print("%s_steps_per_s_median: %.1f" % (key, statistics.median(rates)))
        print("%s_steps_per_s_median_step: %.1f" % (key, 1.0 / statistics.median(all_steps)))
    with open("/proc/self/status") as status:
        threads = next(line.split()[1] for line in status if line.startswith("Threads:"))
    print("torch_process_threads: " + threads)


if __name__ == "__main__":
    main()
