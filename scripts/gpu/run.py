#!/usr/bin/env python3
"""Checks and times attn's CUDA target on a GPU machine, from a bundle that
scripts/gpu/prepare.sh built elsewhere (nothing is compiled here).

usage: python3 run.py BUNDLE [--json FILE] [--no-bench]

1. Every case of test/Integration/GPU/cases.txt: its module (host code and
   PTX) is loaded by the attn runtime, run on the GPU on the saved inputs,
   and each output compared with the saved float64 reference with the same
   measure as attn-run --check: max|out - ref| / max(1, max|ref|), against
   1e-4 (f32), 1e-2 (f16) or 5e-2 (bf16). A case marked sdpa=none or
   sdpa=causal also runs PyTorch's SDPA flash backend on the same inputs:
   attn's error must be within 2x of SDPA's. Then a misaligned bf16 buffer
   must be refused with a status (not fault on the GPU).
2. Timing (bf16, B*N = 16384 tokens, hidden 2048): attn's tensor-core
   kernel (and the SIMT kernel where the bundle has it) and PyTorch's SDPA
   flash and cuDNN backends on the same tensors, in the same process:
   median of timed runs after a warm-up, TFLOP/s counting 4*B*H*N*N*D FLOPs
   (half of them with a causal mask); a causal window of 1024 keys at
   N = 16k, D = 128 against no mask.
3. Decode steps (f32, H = 32, D = 128, one token, contexts 1k-64k, MHA,
   GQA-4, MQA, on the SIMT kernel; and bf16 GQA-4 on the tensor cores): K/V
   bytes per second against a device copy timed in the same run, and SDPA
   on the same tensors.

The runtime is driven through its C API with ctypes; device buffers come
from PyTorch (they are ordinary device memory of the same primary context).
"""
import ctypes
import hashlib
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

DTYPES = {0: torch.float32, 1: torch.float16, 2: torch.bfloat16,
          3: torch.float64, 4: torch.int32, 5: torch.int64}
DTYPE_CODES = {v: k for k, v in DTYPES.items()}
TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


class ArgInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("dims", ctypes.c_void_p),
                ("bound_symbol", ctypes.c_char_p)]


class InvokeStats(ctypes.Structure):
    _fields_ = [("peak_bytes", ctypes.c_uint64),
                ("allocation_count", ctypes.c_uint64),
                ("retained_bytes", ctypes.c_int64)]


class Runtime:
    def __init__(self, path):
        # Global, so that the modules' undefined symbols (mgpu*, the
        # allocation hooks) bind to it.
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        lib = self.lib
        lib.attn_status_message.restype = ctypes.c_char_p
        for name in ("attn_module_load_library", "attn_module_lookup_function",
                     "attn_function_input_info", "attn_function_output_info",
                     "attn_function_infer_output_shapes",
                     "attn_function_invoke", "attn_cuda_device_info"):
            getattr(lib, name).restype = ctypes.c_void_p
        lib.attn_function_input_count.restype = ctypes.c_size_t
        lib.attn_function_output_count.restype = ctypes.c_size_t
        lib.attn_status_message.argtypes = [ctypes.c_void_p]
        lib.attn_status_free.argtypes = [ctypes.c_void_p]
        self.modules = {}

    def check(self, status, what):
        if status:
            message = self.lib.attn_status_message(status).decode()
            self.lib.attn_status_free(status)
            raise RuntimeError(f"{what}: {message}")

    def device(self):
        name = ctypes.create_string_buffer(256)
        major, minor, sms = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        self.check(self.lib.attn_cuda_device_info(
            name, 256, ctypes.byref(major), ctypes.byref(minor),
            ctypes.byref(sms)), "attn_cuda_device_info")
        return f"{name.value.decode()} (sm_{major.value}{minor.value}, {sms.value} SMs)"

    def function(self, library, entry):
        if library not in self.modules:
            module = ctypes.c_void_p()
            self.check(self.lib.attn_module_load_library(
                library.encode(), ctypes.byref(module)), f"loading {library}")
            self.modules[library] = module
        function = ctypes.c_void_p()
        self.check(self.lib.attn_module_lookup_function(
            self.modules[library], entry.encode(), ctypes.byref(function)),
            f"{entry} in {library}")
        return Function(self, function)


class Function:
    def __init__(self, runtime, handle):
        self.rt, self.handle = runtime, handle
        lib = runtime.lib
        self.inputs = [self._info(lib.attn_function_input_info, i)
                       for i in range(lib.attn_function_input_count(handle))]
        self.outputs = [self._info(lib.attn_function_output_info, i)
                        for i in range(lib.attn_function_output_count(handle))]

    def _info(self, getter, index):
        info = ArgInfo()
        self.rt.check(getter(self.handle, ctypes.c_size_t(index),
                             ctypes.byref(info)), "argument info")
        return info.name.decode(), DTYPES[info.dtype], info.rank

    @staticmethod
    def _views(tensors):
        keep, views = [], (Tensor * max(1, len(tensors)))()
        for i, t in enumerate(tensors):
            shape = (ctypes.c_int64 * max(1, t.dim()))(*t.shape)
            keep.append(shape)
            views[i] = Tensor(t.data_ptr(), DTYPE_CODES[t.dtype], t.dim(),
                              shape, None)
        return views, keep

    def output_shapes(self, inputs):
        views, keep = self._views(inputs)
        total = sum(rank for _, _, rank in self.outputs)
        shapes = (ctypes.c_int64 * max(1, total))()
        self.rt.check(self.rt.lib.attn_function_infer_output_shapes(
            self.handle, views, ctypes.c_size_t(len(inputs)), shapes),
            "output shapes")
        result, at = [], 0
        for _, _, rank in self.outputs:
            result.append(list(shapes[at:at + rank]))
            at += rank
        return result

    def __call__(self, inputs, outputs):
        ins, keep_in = self._views(inputs)
        outs, keep_out = self._views(outputs)
        stats = InvokeStats()
        self.rt.check(self.rt.lib.attn_function_invoke(
            self.handle, ins, ctypes.c_size_t(len(inputs)), outs,
            ctypes.c_size_t(len(outputs)), ctypes.byref(stats)), "invoke")
        return stats


def draw(seed, count):
    """attn-run --random's numbers: splitmix64 from `seed`, each in [-1, 1)
    (reference::fillRandom)."""
    golden = np.uint64(0x9e3779b97f4a7c15)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + golden * np.arange(1, count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -52 - 1.0


def load_input(folder, name, index, dtype, seed):
    """Input `index` of a case on the device: its .npy, or drawn again from
    the case's seed (slim_inputs.py) and checked against its SHA-256."""
    path = os.path.join(folder, name)
    if os.path.exists(path + ".npy"):
        return torch.from_numpy(np.load(path + ".npy")).to("cuda").to(dtype)
    with open(path + ".json") as f:
        saved = json.load(f)
    values = draw(seed * 1000003 + index, int(np.prod(saved["shape"])))
    # Rounded as storeElement does: f16 directly, bf16 through f32.
    if dtype == torch.float16:
        tensor = torch.from_numpy(values.astype(np.float16))
    else:
        tensor = torch.from_numpy(values.astype(np.float32)).to(dtype)
    tensor = tensor.reshape(saved["shape"])
    as_saved = {"<f4": torch.float32, "<f2": torch.float16,
                "<f8": torch.float64}[saved["descr"]]
    digest = hashlib.sha256(
        tensor.to(as_saved).numpy().tobytes()).hexdigest()
    if digest != saved["sha256"]:
        raise RuntimeError(f"{path}: the input drawn again from seed {seed} "
                           f"differs from the one attn-run saved")
    return tensor.to("cuda")


def max_error(out, ref):
    out = out.double().cpu().numpy()
    if np.isnan(out).any():
        return float("inf")
    return float(np.abs(out - ref).max(initial=0) /
                 max(1.0, float(np.abs(ref).max(initial=0))))


def sdpa_error(inputs, names, kind, ref):
    """The error of PyTorch's SDPA flash backend on a case's inputs, against
    the case's float64 reference (K/V heads repeated for GQA)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F
    by_name = dict(zip(names, inputs))
    q, k, v = by_name["q"], by_name["k"], by_name["v"]
    group = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(group, dim=1) for t in (k, v))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        out = F.scaled_dot_product_attention(q, k, v,
                                             is_causal=kind == "causal")
    return max_error(out, ref)


def run_cases(rt, bundle):
    results, failures = [], 0
    cases = os.path.join(bundle, "cases")
    for case in sorted(d for d in os.listdir(cases)
                       if os.path.isdir(os.path.join(cases, d))):
        d = os.path.join(cases, case)
        with open(os.path.join(d, "case.txt")) as f:
            library, entry, source, *tags = f.read().split()
        tags = dict(tag.split("=") for tag in tags)
        sdpa = tags.get("sdpa")
        try:
            fn = rt.function(os.path.join(cases, library), entry)
            inputs = [load_input(os.path.join(d, "inputs"), name, index,
                                 dtype, int(tags.get("seed") or 0))
                      for index, (name, dtype, _) in enumerate(fn.inputs)]
            outputs = [torch.empty(shape, dtype=dtype, device="cuda")
                       for shape, (_, dtype, _) in
                       zip(fn.output_shapes(inputs), fn.outputs)]
            stats = fn(inputs, outputs)
        except Exception as e:  # one broken case must not stop the others
            print(f"case {case} {library} {entry}: {e} FAILED", flush=True)
            results.append({"case": case, "source": source, "entry": entry,
                            "library": library, "error": str(e)[:500],
                            "ok": False})
            failures += 1
            continue
        for (name, dtype, _), out in zip(fn.outputs, outputs):
            ref = np.load(os.path.join(d, "reference", name + ".npy"))
            error = max_error(out, ref)
            ok = error <= TOLERANCE[dtype]
            versus = ""
            row = {"case": case, "source": source, "entry": entry,
                   "library": library, "output": name, "dtype": str(dtype),
                   "max_error": error}
            if sdpa and name == fn.outputs[0][0]:
                reference_error = sdpa_error(
                    inputs, [n for n, _, _ in fn.inputs], sdpa, ref)
                row["sdpa_flash_error"] = reference_error
                ok = ok and error <= 2 * reference_error
                versus = f", SDPA flash {reference_error:.3g} (at most 2x)"
            failures += not ok
            row["ok"] = ok
            shape = "x".join(map(str, out.shape))
            print(f"case {case} {library} {entry} {name} [{shape}] "
                  f"{str(dtype).split('.')[1]}: max error {error:.3g} "
                  f"(tolerance {TOLERANCE[dtype]:g}{versus}) "
                  f"{'ok' if ok else 'FAILED'}, peak {stats.peak_bytes} "
                  f"device bytes", flush=True)
            results.append(row)
    return results, failures


def check_misaligned(rt, bundle):
    """A bf16 buffer 2 bytes off a 16-byte boundary: the runtime must refuse
    it with a status naming the argument (the tensor-core kernel's 16-byte
    copies would fault)."""
    fn = rt.function(os.path.join(bundle, "bench", "bench_d64_tc.so"),
                     "attention")
    q = torch.randn(1, 32, 65, 64, dtype=torch.bfloat16, device="cuda")
    view = q.flatten()[1:1 + 32 * 64 * 64].view(1, 32, 64, 64)
    out = torch.empty(1, 32, 64, 64, dtype=torch.bfloat16, device="cuda")
    try:
        fn([view, view, view], [out])
    except RuntimeError as e:
        ok = "16-byte aligned" in str(e)
        print(f"misaligned bf16 buffer: refused ({e}) "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        return ok
    print("misaligned bf16 buffer: accepted FAILED", flush=True)
    return False


def median_ms(fn, repeat):
    fn()  # warm-up (and, for attn, the first launch of each kernel)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def run_bench(rt, bundle):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F
    rows = []
    for d in (64, 128):
        h = 2048 // d
        for causal in (False, True):
            name = f"bench_d{d}" + ("_causal" if causal else "")
            kernels = {"attn": rt.function(
                os.path.join(bundle, "bench", name + "_tc.so"), "attention")}
            simt = os.path.join(bundle, "bench", name + ".so")
            if os.path.exists(simt):
                kernels["attn_simt"] = rt.function(simt, "attention")
            for n in (1024, 4096, 16384):
                b = 16384 // n
                torch.manual_seed(0)
                q, k, v = (torch.randn(b, h, n, d, dtype=torch.bfloat16,
                                       device="cuda") for _ in range(3))
                out = torch.empty_like(q)
                flops = 4 * b * h * n * n * d * (0.5 if causal else 1.0)
                row = {"D": d, "N": n, "B": b, "H": h, "causal": causal}
                for label, fn in kernels.items():
                    repeat = 3 if label == "attn_simt" else 10
                    ms = median_ms(lambda: fn([q, k, v], [out]), repeat)
                    row[label + "_ms"] = ms
                    row[label + "_tflops"] = flops / ms * 1e-9
                for label, backend in (("sdpa_flash", SDPBackend.FLASH_ATTENTION),
                                       ("sdpa_cudnn", SDPBackend.CUDNN_ATTENTION)):
                    try:
                        with sdpa_kernel([backend]):
                            expected = F.scaled_dot_product_attention(
                                q, k, v, is_causal=causal)
                            t = median_ms(lambda: F.scaled_dot_product_attention(
                                q, k, v, is_causal=causal), 10)
                        row[label + "_ms"] = t
                        row[label + "_tflops"] = flops / t * 1e-9
                        if label == "sdpa_flash":
                            row["max_abs_diff_vs_sdpa"] = float(
                                (out.float() - expected.float()).abs().max())
                    except Exception as e:  # a backend may be unavailable
                        row[label + "_error"] = repr(e)[:200]
                print(json.dumps(row), flush=True)
                rows.append(row)
    rows.append(run_window_bench(rt, bundle))
    return rows


def run_window_bench(rt, bundle):
    """A causal window of 1024 keys (left = 1023) at N = 16k, D = 128, H =
    16, B = 1, against the same kernel without a mask: the skipped tiles
    are not computed. FLOPs count the attended pairs."""
    window = rt.function(os.path.join(bundle, "bench",
                                      "bench_d128_window_tc.so"), "attention")
    full = rt.function(os.path.join(bundle, "bench", "bench_d128_tc.so"),
                       "attention")
    n, h, d, w = 16384, 16, 128, 1024
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, h, n, d, dtype=torch.bfloat16, device="cuda")
               for _ in range(3))
    out = torch.empty_like(q)
    pairs = sum(min(i + 1, w) for i in range(n))
    row = {"window": w, "N": n, "H": h, "D": d}
    row["window_ms"] = median_ms(lambda: window([q, k, v], [out]), 10)
    row["window_tflops"] = 4 * h * pairs * d / row["window_ms"] * 1e-9
    row["no_mask_ms"] = median_ms(lambda: full([q, k, v], [out]), 10)
    row["speedup_over_no_mask"] = row["no_mask_ms"] / row["window_ms"]
    print(json.dumps(row), flush=True)
    return row


def copy_gbps():
    """Device-to-device copy of 1 GiB: bytes copied per second (each byte
    is read once and written once), the yardstick of a decode step."""
    x = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    ms = median_ms(lambda: y.copy_(x), 10)
    return x.numel() * 4 / ms * 1e-6


def run_decode_bench(rt, bundle):
    """Per-token decode time against a full cache: H = 32, D = 128, f32,
    one query token, B in {1, 8}, contexts 1k-64k, MHA / GQA-4 / MQA. The
    K/V bytes read per second against the copy bandwidth of the same run,
    and PyTorch's SDPA on the same tensors (enable_gqa) as a baseline."""
    import torch.nn.functional as F
    copy = copy_gbps()
    print(f"decode: device copy {copy:.0f} GB/s", flush=True)
    rows = []
    for kv, label in ((32, "MHA"), (8, "GQA-4"), (1, "MQA")):
        fn = rt.function(os.path.join(bundle, "bench", f"decode_kv{kv}.so"),
                         "step")
        for b in (1, 8):
            for s in (1024, 4096, 16384, 32768, 65536):
                torch.manual_seed(0)
                q = torch.randn(b, 32, 1, 128, device="cuda")
                k, v = (torch.randn(b, kv, s, 128, device="cuda")
                        for _ in range(2))
                lengths = torch.full((b,), s, dtype=torch.int32, device="cuda")
                out = torch.empty_like(q)
                ms = median_ms(lambda: fn([q, k, v, lengths], [out]), 20)
                kv_bytes = 2 * b * kv * s * 128 * 4
                row = {"kind": label, "B": b, "S": s, "kv_heads": kv,
                       "attn_ms": ms, "kv_gbps": kv_bytes / ms * 1e-6,
                       "copy_gbps": copy,
                       "of_copy": kv_bytes / ms * 1e-6 / copy}
                try:
                    expected = F.scaled_dot_product_attention(
                        q, k, v, enable_gqa=kv != 32)
                    row["max_abs_diff_vs_sdpa"] = float(
                        (out - expected).abs().max())
                    row["sdpa_ms"] = median_ms(
                        lambda: F.scaled_dot_product_attention(
                            q, k, v, enable_gqa=kv != 32), 20)
                except Exception as e:
                    row["sdpa_error"] = repr(e)[:200]
                print(json.dumps(row), flush=True)
                rows.append(row)
                del q, k, v, out
    # One bf16 GQA-4 token on the tensor cores, B = 8, against 32k keys.
    fn = rt.function(os.path.join(bundle, "bench", "decode_kv8_bf16_tc.so"),
                     "step")
    b, s, kv = 8, 32768, 8
    q = torch.randn(b, 32, 1, 128, dtype=torch.bfloat16, device="cuda")
    k, v = (torch.randn(b, kv, s, 128, dtype=torch.bfloat16, device="cuda")
            for _ in range(2))
    lengths = torch.full((b,), s, dtype=torch.int32, device="cuda")
    out = torch.empty_like(q)
    ms = median_ms(lambda: fn([q, k, v, lengths], [out]), 20)
    kv_bytes = 2 * b * kv * s * 128 * 2
    row = {"kind": "GQA-4 bf16 tensor cores", "B": b, "S": s,
           "kv_heads": kv, "attn_ms": ms, "kv_gbps": kv_bytes / ms * 1e-6,
           "copy_gbps": copy, "of_copy": kv_bytes / ms * 1e-6 / copy}
    expected = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    row["max_abs_diff_vs_sdpa"] = float((out.float() - expected.float())
                                        .abs().max())
    row["sdpa_ms"] = median_ms(lambda: F.scaled_dot_product_attention(
        q, k, v, enable_gqa=True), 20)
    print(json.dumps(row), flush=True)
    rows.append(row)
    return rows


def main():
    bundle = sys.argv[1]
    json_path = None
    if "--json" in sys.argv:
        json_path = sys.argv[sys.argv.index("--json") + 1]
    rt = Runtime(os.path.join(bundle, "lib", "libattn_runtime.so"))
    torch.cuda.init()  # the primary context, shared with the runtime
    device = rt.device()
    print(f"device: {device}; torch {torch.__version__}", flush=True)
    started = time.time()
    results, failures = run_cases(rt, bundle)
    print(f"{len(results) - failures} of {len(results)} outputs match the "
          f"float64 reference ({time.time() - started:.1f} s)", flush=True)
    failures += not check_misaligned(rt, bundle)
    rows, decode = [], []
    if "--no-bench" not in sys.argv:
        rows = run_bench(rt, bundle)
        decode = run_decode_bench(rt, bundle)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"device": device, "torch": torch.__version__,
                       "cases": results, "bench": rows, "decode": decode},
                      f, indent=1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
