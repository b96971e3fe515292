#!/usr/bin/env python3
"""Trains the reference specs in PyTorch from the core's own tensors; writes the losses fixture.

Usage: torch_reference.py EXPORT_DIR FIXTURE_JSON

EXPORT_DIR is what reference_export wrote (export_reference.cc): for each spec, the training
data, every layer's initial weight and every step's batch indices, exactly as the core draws
them. This script builds the same model (depth Linear layers, ReLU between them, biases zero),
the same loss (mean cross-entropy) and the same optimizer (torch.optim.SGD with momentum) in
PyTorch, float32 on one thread, feeds it the same batches in the same order, and records every
step's training loss until the spec's last step or the first non-finite loss (the core stops
there too). The outcome is classified with the core's documented rules (core/config.h): diverged
at the first non-finite loss; flatlined when the loss stays within flatline_tolerance of
ln(classes) for flatline_window consecutive steps or more up to the run's last step (from the
first of them; core::TrackFlatline); completed otherwise.

The fixture (tests/reference/torch_losses.json) holds each spec, its losses and outcome, and the
provenance: PyTorch's version and BLAS, the date and the machine.
reference_test.cc compares the core against it. Needs PyTorch (deploy/install-deps.sh
--bench installs Debian's python3-torch, under /usr/bin/python3).
"""

import os

# Before torch loads: one thread, as the core trains a run on one thread.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import ctypes  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def load(directory):
    with open(os.path.join(directory, "spec.json")) as f:
        spec = json.load(f)
    m, d, t = spec["model"], spec["data"], spec["train"]
    x = np.fromfile(os.path.join(directory, "train_x.f32"), dtype="<f4")
    x = x.reshape(d["train_size"], m["input_dim"])
    y = np.fromfile(os.path.join(directory, "train_y.i32"), dtype="<i4")
    assert y.shape == (d["train_size"],), "train_y.i32 has the wrong size"
    weights = []
    for i in range(m["depth"]):
        fan_in = m["input_dim"] if i == 0 else m["width"]
        fan_out = m["classes"] if i == m["depth"] - 1 else m["width"]
        w = np.fromfile(os.path.join(directory, "layer_%d.f32" % i), dtype="<f4")
        weights.append(w.reshape(fan_out, fan_in))
    batches = np.fromfile(os.path.join(directory, "batches.i32"), dtype="<i4")
    batches = batches.reshape(t["steps"], t["batch"])
    return spec, x, y, weights, batches


def train(spec, x, y, weights, batches):
    """Returns the losses, up to and including the first non-finite loss."""
    t = spec["train"]
    params = []
    for w in weights:
        weight = torch.from_numpy(w.copy()).requires_grad_()
        bias = torch.zeros(w.shape[0], dtype=torch.float32, requires_grad=True)
        params.append((weight, bias))
    opt = torch.optim.SGD([p for pair in params for p in pair], lr=t["lr"],
                          momentum=t["momentum"])
    x_all = torch.from_numpy(x)
    y_all = torch.from_numpy(y.astype(np.int64))
    losses = []
    for step in range(t["steps"]):
        index = torch.from_numpy(batches[step].astype(np.int64))
        h = x_all.index_select(0, index)
        for i, (weight, bias) in enumerate(params):
            h = F.linear(h, weight, bias)
            if i + 1 < len(params):
                h = F.relu(h)
        loss = F.cross_entropy(h, y_all.index_select(0, index))
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value) and t["stop_on_nonfinite"]:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return losses


def outcome(spec, losses):
    t = spec["train"]
    first_nonfinite = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if first_nonfinite is not None and t["stop_on_nonfinite"]:
        return {"kind": "diverged", "step": first_nonfinite}
    chance = math.log(spec["model"]["classes"])
    run = 0
    for loss in losses:
        run = run + 1 if abs(loss - chance) < t["flatline_tolerance"] else 0
    if run >= t["flatline_window"]:
        return {"kind": "flatlined", "step": len(losses) - run}
    return {"kind": "completed", "step": None}


def blas():
    """The library whose sgemm_ torch's float32 matmul calls, and torch's own build flags."""
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    config = torch.__config__.show()
    blas_info = re.search(r"BLAS_INFO=(\w+)", config)
    result = {"torch_blas_info": blas_info.group(1) if blas_info else "unknown"}

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
    try:
        with open("/proc/self/maps") as maps:
            torch_cpu = next(line.split()[-1] for line in maps if "libtorch_cpu.so" in line)
        handle = ctypes.CDLL(torch_cpu, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        info = DlInfo()
        if ctypes.CDLL(None).dladdr(ctypes.cast(handle.sgemm_, ctypes.c_void_p),
                                    ctypes.byref(info)):
            result["sgemm_from"] = os.path.realpath(info.dli_fname.decode())
    except (StopIteration, OSError, AttributeError) as error:
        result["sgemm_from"] = "unknown (%s)" % error
    return result


def provenance():
    try:  # torch.__version__ of Debian's build says less than its package
        package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-torch"],
                                 capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        package = "not a Debian package"
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return dict({
        "generated_by": "tests/reference/torch_reference.py, from the tensors that "
                        "tests/reference/export_reference.cc wrote",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch_version": torch.__version__,
        "python3_torch_package": package,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu,
        "dtype": "float32",
    }, **blas())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    export_dir, fixture = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    runs = []
    for name in sorted(os.listdir(export_dir)):
        spec, x, y, weights, batches = load(os.path.join(export_dir, name))
        losses = train(spec, x, y, weights, batches)
        result = outcome(spec, losses)
        runs.append({
            "name": name,
            "spec": spec,
            "outcome": result,
            # float32 values, 9 significant digits (enough to round-trip); null if non-finite.
            "losses": [float("%.9g" % v) if math.isfinite(v) else None for v in losses],
        })
        print("%-18s %s%s, %d steps, loss %.6g -> %.6g" % (
            name, result["kind"], "" if result["step"] is None else " at step %d" % result["step"],
            len(losses), losses[0], losses[-1]))
    with open(fixture, "w") as f:
        json.dump({"schema": "ablate.torch_reference/1", "provenance": provenance(),
                   "runs": runs}, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
