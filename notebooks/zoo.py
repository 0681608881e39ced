"""What the ten notebooks share: a float64 attention written from the
formula, the checks, the heatmaps, the block schedule picture, the
scaling measurement with its fitted exponent, and the IR at chosen stages.
Each notebook writes its own mechanism; this only draws and measures."""

import statistics
import time

import matplotlib.pyplot as plt
import numpy as np

import attn

ROOT = ".."  # the notebooks run from notebooks/


def softmax_attention(q, k, v, visible=None, scale=None):
    """softmax(scale q k^T) v in float64 for (H, N, D) arrays (grouped heads
    share K/V head h // (H / Hkv)), over the keys `visible` (N, S) allows; a
    row that sees no key gives zeros. Returns (out, weights)."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    heads, n, d = q.shape
    group = heads // k.shape[0]
    scale = 1 / np.sqrt(d) if scale is None else scale
    outs, weights = [], []
    for h in range(heads):
        scores = scale * q[h] @ k[h // group].T
        if visible is not None:
            scores = np.where(visible, scores, -np.inf)
        top = scores.max(axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        p = np.exp(scores - top)
        total = p.sum(axis=1, keepdims=True)
        w = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
        weights.append(w)
        outs.append(w @ v[h // group])
    return np.stack(outs), np.stack(weights)


def check(out, expected, tolerance=1e-4):
    """The largest error relative to max(1, max |expected|), printed and
    held to `tolerance`."""
    out = np.asarray(out, dtype=np.float64)
    error = np.abs(out - expected).max() / max(1.0, np.abs(expected).max())
    print(f"max error against the float64 reference: {error:.2e} "
          f"(tolerance {tolerance:g})")
    assert error <= tolerance, error
    return error


def heatmaps(mask, weights, title):
    """The mask (who may see whom) beside the attention weights."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4))
    axes[0].imshow(mask, cmap="Greys", vmin=0, vmax=1)
    axes[0].set_title(f"{title}: mask")
    image = axes[1].imshow(weights, cmap="viridis")
    axes[1].set_title(f"{title}: weights (head 0)")
    for axis in axes:
        axis.set_xlabel("key j")
        axis.set_ylabel("query i")
    figure.colorbar(image, ax=axes[1], fraction=0.046)
    figure.tight_layout()
    plt.show()


def show_schedule(mask, queries, keys=None, tile=64, **options):
    """The block schedule of the tiled lowering (attn.schedule): which
    tiles of `tile` x `tile` are skipped, masked element by element
    (partial) or computed whole (full)."""
    s = attn.schedule(mask, queries, keys, query_tile=tile, key_tile=tile,
                      **options)
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    colors = plt.matplotlib.colors.ListedColormap(
        ["white", "#f5b041", "#2e86c1"])
    axis.imshow(s.cells, cmap=colors, vmin=0, vmax=2)
    axis.set_title(f"tiles of {tile}: {s.full} full, {s.partial} partial, "
                   f"{s.skipped} skipped", fontsize=9)
    axis.set_xlabel("key tile")
    axis.set_ylabel("query tile")
    patches = plt.matplotlib.patches
    axis.legend(handles=[patches.Patch(color="#2e86c1", label="full"),
                         patches.Patch(color="#f5b041", label="partial"),
                         patches.Patch(facecolor="white", edgecolor="grey",
                                       label="skipped")],
                loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    plt.show()
    total = s.cells.size
    print(f"{s.full + s.partial} of {total} tiles visited; "
          f"{s.pairs_computed} (query, key) pairs computed")
    if len(s.pieces) > 1:
        print(f"lowered as {len(s.pieces)} pieces dense in tiles, "
              f"{s.lowered_tiles} tiles, {s.lowered_pairs_computed} pairs:")
        for piece in s.pieces:
            print("  ", piece)
    return s


def measure(run, sizes, repeats=3):
    """Median seconds and peak bytes of run(n) for each n: `run(n)` returns
    (function, arguments) and is timed after one warm-up call; the peak is
    what the generated code allocated during the call (last_stats)."""
    seconds, peaks = [], []
    for n in sizes:
        function, arguments = run(n)
        function(*arguments)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function(*arguments)
            times.append(time.perf_counter() - start)
        seconds.append(statistics.median(times))
        peaks.append(function.last_stats["peak_bytes"])
    return np.array(seconds), np.array(peaks, dtype=np.float64)


def fitted_exponent(sizes, values):
    """The slope of log(value) against log(n): value ~ n^slope."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def plot_scaling(sizes, series, title):
    """Log-log plots of time and of bytes against N with their fitted
    exponents; `series` maps a label to (seconds, peak bytes). Returns the
    exponents {label: (time, bytes)}."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    exponents = {}
    for label, (seconds, peaks) in series.items():
        t = fitted_exponent(sizes, seconds)
        b = fitted_exponent(sizes, np.maximum(peaks, 1))
        exponents[label] = (t, b)
        axes[0].loglog(sizes, seconds * 1e3, "o-",
                       label=f"{label}: N^{t:.2f}")
        axes[1].loglog(sizes, np.maximum(peaks, 1) / 2**20, "o-",
                       label=f"{label}: N^{b:.2f}")
    axes[0].set_ylabel("time (ms)")
    axes[1].set_ylabel("peak bytes allocated (MiB)")
    for axis in axes:
        axis.set_xlabel("N")
        axis.set_xticks(sizes, [str(n) for n in sizes])
        axis.xaxis.set_minor_formatter(plt.NullFormatter())
        axis.legend(fontsize=8)
        axis.grid(True, which="both", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    plt.show()
    for label, (t, b) in exponents.items():
        print(f"{label}: time ~ N^{t:.2f}, peak bytes ~ N^{b:.2f}")
    return exponents


def show_ir(source, stages, lines=18, **options):
    """The first `lines` lines of each function's IR after each named
    stage of the CPU pipeline (attn.ir; attn.stages() lists them)."""
    for stage in stages:
        text = attn.ir(source, after=stage, **options)
        body = [line for line in text.splitlines() if line.strip()]
        shown = "\n".join(body[:lines])
        more = len(body) - lines
        print(f"=== after {stage} ({len(body)} lines) ===\n{shown}"
              + (f"\n    ... {more} more lines" if more > 0 else "") + "\n")


def random(shape, seed=0, scale=1.0, dtype=np.float32):
    """Uniform in [-scale, scale), as attn-run --random draws (scale 1)."""
    x = np.random.default_rng(seed).uniform(-1, 1, shape) * scale
    return x.astype(dtype)
