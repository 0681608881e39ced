//===- attn-bench.cpp - attention on this CPU, against its peak and BLAS --===//
//
// For each head width D, mask (none, causal) and length N (B = 1, H = 8, f32)
// this times, in one run:
//   - the flash strategy (compiled once per D and mask; any N),
//   - on an AVX-512 machine, the same compiled for AVX2 (flash-avx2),
//   - the materialized strategy (up to --materialized-max-n),
//   - an unfused baseline: scores by OpenBLAS sgemm, a vectorized softmax
//     (AVX2, all cores), sgemm again;
// and reports the median time, GFLOP/s on the attended pairs (4 D FLOPs
// each), the fraction of this machine's FMA peak (measured here first) and
// the peak bytes allocated. Results go to stdout (a Markdown table) and, as
// JSON lines with the machine and the command, to --output.
//
//===----------------------------------------------------------------------===//

#include "ToolSupport.h"
#include "attn/Reference/HostTensors.h"
#include "attn/Reference/Reference.h"
#include "attn/Target/CPU.h"

#include "mlir/Parser/Parser.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace cl = llvm::cl;
using ::attn::HostTensor;

static cl::OptionCategory benchCategory("attn-bench options");

static cl::list<int64_t> lengths("n", cl::cat(benchCategory), cl::desc("Sequence lengths"),
                                 cl::CommaSeparated);
static cl::list<int64_t> headDims("d", cl::cat(benchCategory), cl::desc("Head widths"),
                                  cl::CommaSeparated);
static cl::opt<int64_t> heads("h", cl::cat(benchCategory), cl::desc("Heads"), cl::init(8));
static cl::opt<int64_t> materializedMaxN(
    "materialized-max-n", cl::cat(benchCategory),
    cl::desc("Longest N timed with the materialized strategy (its N x N "
             "scores take 4 H N^2 bytes)"),
    cl::init(4096));
static cl::opt<unsigned> repeats("repeat", cl::cat(benchCategory), cl::desc("Timed runs per case"),
                                 cl::init(3));
static cl::opt<std::string> outputPath("output", cl::cat(benchCategory),
                                       cl::desc("JSON lines written here"));
static cl::opt<bool> causalOnly("causal-only", cl::cat(benchCategory), cl::desc("Only causal cases"));
static cl::opt<bool> dense("dense-only", cl::cat(benchCategory), cl::desc("Only non-causal cases"));
static cl::opt<bool>
    masks("masks", cl::cat(benchCategory),
          cl::desc("Time the sparse masks against N instead (window 256 "
                   "and 512, dilated window, strided, fixed; D = 128)"));
static cl::opt<int64_t>
    baselineMaxN("baseline-max-n", cl::cat(benchCategory),
                 cl::desc("--masks: largest N of the causal flash baseline"),
                 cl::init(8192));

static cl::opt<bool> linear(
    "linear", cl::cat(benchCategory),
    cl::desc("Time linear attention instead: B = 1, H = 8, D = 64, causal and "
             "not, against the flash strategy of softmax attention (up to "
             "--baseline-max-n), and the recurrent step of decoding after "
             "contexts of 1k and 32k (--n: the lengths)"));
static cl::opt<bool> decode(
    "decode", cl::cat(benchCategory),
    cl::desc("Time one decode step instead: H = 32, D = 128, one new token "
             "against a full cache, MHA, GQA-4 and MQA, B = 1 and 8, against "
             "the memory bandwidth of this machine (--n: the contexts)"));
static cl::opt<bool> layers(
    "layers", cl::cat(benchCategory),
    cl::desc("Time the multi-head layer of example 02 instead (heads of 64, "
             "x = 2x256x512 and 8x512x1024): whole, against OpenBLAS "
             "projections composed with attn's flash, and attn's attention "
             "alone"));
static cl::opt<bool> bf16(
    "bf16", cl::cat(benchCategory),
    cl::desc("Time bf16 inputs instead: the flash strategy on bf16 q, k, v "
             "(B = 1, H = 8, no mask) against f32 in the same run, and, "
             "where the CPU has AVX512-BF16, against bf16 compiled without "
             "it (widened to f32 products)"));
static cl::opt<bool> backward(
    "backward", cl::cat(benchCategory),
    cl::desc("Time the backward instead: attn.attention_grad (flash) against "
             "the forward it follows and an unfused OpenBLAS backward (from "
             "the P of every head an unfused forward keeps, products by "
             "sgemm; up to --baseline-max-n), "
             "B = 1, H = 8, D = 64 and 128, no mask, causal and a causal "
             "window of 256 keys"));
static cl::opt<bool> scoreMods(
    "score-mods", cl::cat(benchCategory),
    cl::desc("Time the score modifiers instead: the flash strategy, B = 1, "
             "H = 8, D = 128 (-d), causal, plain and with logit soft-capping "
             "and ALiBi, timed in alternation in one run"));
static cl::opt<bool> packed(
    "packed", cl::cat(benchCategory),
    cl::desc("Time packed variable-length sequences instead: 8 sequences of "
             "128 to 4096 tokens (H = 8, D = 64, f32, causal) packed into one "
             "row with offsets, against the same batch padded to the longest "
             "with key lengths, timed in alternation"));
static cl::opt<double> decodeMaxGiB(
    "decode-max-gib", cl::cat(benchCategory),
    cl::desc("--decode: largest K/V cache to allocate, in GiB (larger "
             "cases are skipped and reported so)"),
    cl::init(12));

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

/// Runs body(i) for i in [0, n) on all cores.
template <typename F> void parallelFor(int64_t n, F body) {
  unsigned threads = cores();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < n; i += threads)
        body(i);
    });
  for (std::thread &thread : pool)
    thread.join();
}

/// FMA peak: 12 independent FMA chains per core on the widest vectors the
/// CPU executes FMAs on (AVX-512's 16 f32 lanes where it has them, else
/// AVX2's 8), all cores; the best of three tries (a peak is what the hardware
/// can do, so interference from other tenants of a shared machine is filtered
/// out). 12 chains cover the FMA latency (4 cycles) times two FMA units.
/// The chains of one core, `iterations` FMAs each. (A macro, not a template:
/// the AVX-512 instance must be compiled for AVX-512, which only a function's
/// target attribute allows.)
#define ATTN_FMA_CHAINS(name, Vector, fma, splat)                              \
  float name(long iterations) {                                                \
    Vector acc[12];                                                            \
    Vector x = splat(1.0000001f), y = splat(0.9999999f);                       \
    for (int i = 0; i < 12; ++i)                                               \
      acc[i] = splat(float(i));                                                \
    for (long n = 0; n < iterations; ++n)                                      \
      for (int i = 0; i < 12; ++i)                                             \
        acc[i] = fma(acc[i], x, y);                                            \
    float s = 0;                                                               \
    for (int i = 0; i < 12; ++i)                                               \
      s += acc[i][0];                                                          \
    return s;                                                                  \
  }
__attribute__((target("avx512f")))
ATTN_FMA_CHAINS(fmaChainsAVX512, __m512, _mm512_fmadd_ps, _mm512_set1_ps)
ATTN_FMA_CHAINS(fmaChainsAVX2, __m256, _mm256_fmadd_ps, _mm256_set1_ps)
#undef ATTN_FMA_CHAINS

/// The widest FMA this CPU executes, as its ISA extension names it.
const char *fmaPeakISA() {
  return __builtin_cpu_supports("avx512f") ? "avx512f" : "avx2";
}

double measureFmaPeakOnce() {
  const long iterations = 50000000;
  bool wide = std::string(fmaPeakISA()) == "avx512f";
  std::vector<float> sink(cores());
  auto start = Clock::now();
  parallelFor(cores(), [&](int64_t t) {
    sink[t] = wide ? fmaChainsAVX512(iterations) : fmaChainsAVX2(iterations);
  });
  double flopsPerFma = 2.0 * (wide ? 16 : 8);
  return cores() * iterations * 12.0 * flopsPerFma / seconds(start) * 1e-9;
}

double measureFmaPeak() {
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt)
    best = std::max(best, measureFmaPeakOnce());
  return best;
}

/// The bf16 dot peak, where AVX512-BF16 exists: the same 12 chains of
/// vdpbf16ps, each instruction 16 lanes x 2 products (64 flops). Whether a
/// bf16 product can beat f32 depends on this figure against the FMA peak:
/// the instruction does twice an FMA's work, but on some cores it issues at
/// a quarter of the FMA rate.
__attribute__((target("avx512f,avx512bf16"))) float
dotBf16Chains(long iterations) {
  __m512 acc[12];
  auto ones = (__m512bh)_mm512_set1_epi16(0x3f80); // bf16 1.0 in every lane
  for (int i = 0; i < 12; ++i)
    acc[i] = _mm512_set1_ps(float(i));
  for (long n = 0; n < iterations; ++n)
    for (int i = 0; i < 12; ++i)
      acc[i] = _mm512_dpbf16_ps(acc[i], ones, ones);
  float s = 0;
  for (int i = 0; i < 12; ++i)
    s += acc[i][0];
  return s;
}

/// GFLOP/s of vdpbf16ps on all cores (best of three), or 0 without it.
double measureBf16DotPeak() {
  if (!__builtin_cpu_supports("avx512bf16"))
    return 0;
  const long iterations = 20000000;
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<float> sink(cores());
    auto start = Clock::now();
    parallelFor(cores(), [&](int64_t t) { sink[t] = dotBf16Chains(iterations); });
    best = std::max(best, cores() * iterations * 12.0 * 64 / seconds(start) *
                              1e-9);
  }
  return best;
}

/// 2^x for x <= 0, the polynomial the flash strategy uses.
inline __m256 exp2Vector(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-127.f));
  __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_sub_ps(x, n);
  const float ln2 = 0.6931471805599453f;
  __m256 p = _mm256_set1_ps(ln2 * ln2 * ln2 * ln2 * ln2 * ln2 / 720);
  float c[6] = {1,
                ln2,
                ln2 * ln2 / 2,
                ln2 * ln2 * ln2 / 6,
                ln2 * ln2 * ln2 * ln2 / 24,
                ln2 * ln2 * ln2 * ln2 * ln2 / 120};
  for (int k = 5; k >= 0; --k)
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(c[k]));
  __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/// softmax of one row of n scores (already scaled by log2(e)), in place; the
/// first `visible` entries count, the rest become 0.
void softmaxRow(float *row, int64_t n, int64_t visible) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= visible; j += 8)
    vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + j));
  float m = -INFINITY;
  for (int i = 0; i < 8; ++i)
    m = std::max(m, vmax[i]);
  for (; j < visible; ++j)
    m = std::max(m, row[j]);
  __m256 vm = _mm256_set1_ps(m), vsum = _mm256_setzero_ps();
  for (j = 0; j + 8 <= visible; j += 8) {
    __m256 p = exp2Vector(_mm256_sub_ps(_mm256_loadu_ps(row + j), vm));
    vsum = _mm256_add_ps(vsum, p);
    _mm256_storeu_ps(row + j, p);
  }
  float sum = 0;
  for (int i = 0; i < 8; ++i)
    sum += vsum[i];
  for (; j < visible; ++j) {
    row[j] = std::exp2(row[j] - m);
    sum += row[j];
  }
  __m256 scale = _mm256_set1_ps(1.f / sum);
  for (j = 0; j + 8 <= visible; j += 8)
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), scale));
  for (; j < visible; ++j)
    row[j] /= sum;
  std::fill(row + visible, row + n, 0.f);
}

/// The unfused baseline: per head, S = scale log2(e) Q K^T by sgemm, the
/// softmax of its rows on all cores, O = P V by sgemm. Causal rows ignore
/// the keys after them (the scores are still all computed, as an unfused
/// implementation does). Returns the bytes of its score buffer.
size_t baseline(const HostTensor &q, const HostTensor &k, const HostTensor &v,
                HostTensor &out, bool causal) {
  int64_t h = q.shape()[1], n = q.shape()[2], d = q.shape()[3];
  std::vector<float> scores(size_t(n) * n);
  float scale = float(1.0 / std::sqrt(double(d)) * 1.4426950408889634);
  for (int64_t head = 0; head < h; ++head) {
    const float *qh = q.data<float>() + head * n * d;
    const float *kh = k.data<float>() + head * n * d;
    const float *vh = v.data<float>() + head * n * d;
    float *oh = out.data<float>() + head * n * d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, scale, qh, d,
                kh, d, 0.f, scores.data(), n);
    parallelFor(n, [&](int64_t i) {
      softmaxRow(scores.data() + i * n, n, causal ? i + 1 : n);
    });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.f,
                scores.data(), n, vh, d, 0.f, oh, d);
  }
  return scores.size() * sizeof(float);
}

std::string moduleText(int64_t h, int64_t d, bool causal,
                       const std::string &maskText = "", int64_t n = 0,
                       const std::string &element = "f32",
                       const std::string &scoreModText = "") {
  std::string t = "tensor<1x" + std::to_string(h) + "x" +
                  (n ? std::to_string(n) : "?") + "x" + std::to_string(d) +
                  "x" + element + ">";
  std::string mask = !maskText.empty() ? " mask(" + maskText + ")"
                     : causal          ? " mask(#attn.causal<top_left>)"
                                       : "";
  if (!scoreModText.empty())
    mask += " score_mod(" + scoreModText + ")";
  return "func.func @attention(%q: " + t + ", %k: " + t + ", %v: " + t +
         ") -> " + t + " {\n  %o = attn.attention %q, %k, %v" + mask + " : (" +
         t + ", " + t + ", " + t + ") -> " + t + "\n  return %o : " + t +
         "\n}\n";
}

::attn::Function compile(mlir::MLIRContext &context, ::attn::Module &keep,
                         const std::string &text, const std::string &strategy,
                         const std::string &linearForm = "auto",
                         const std::string &features = "",
                         const std::string &entry = "attention") {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  mlir::attn::CPUTargetOptions options;
  options.features = features;
  options.pipeline.strategy = strategy;
  options.pipeline.linearForm = linearForm;
  auto compiled = mlir::attn::compileForRuntime(*module, options);
  if (!compiled.ok()) {
    llvm::errs() << compiled.status().toString() << "\n";
    std::exit(1);
  }
  keep = *compiled;
  return *keep.lookup(entry);
}

/// Runs f, exiting on an error; returns the peak bytes it allocated.
uint64_t invoke(::attn::Function &f, std::vector<attn_tensor_t> &inputs,
                std::vector<attn_tensor_t> &outputs) {
  attn_invoke_stats_t stats;
  ::attn::Status status = f.invoke(inputs, outputs, &stats);
  if (!status.ok()) {
    llvm::errs() << status.toString() << "\n";
    std::exit(1);
  }
  return stats.peak_bytes;
}

struct Measurement {
  double seconds = NAN;
  uint64_t peakBytes = 0;
};

/// The median of `repeats` runs after a warm-up. The thread pools of
/// OpenBLAS and libomp spin for a while after their last parallel region
/// (libomp's KMP_BLOCKTIME is 200 ms), taking the cores from whoever runs
/// next: each measurement starts after a pause, so that none pays for the
/// pool of the one before it.
template <typename F> Measurement timeMedian(F run) {
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  run(); // warm-up: page faults, thread pools
  std::vector<double> times;
  uint64_t peak = 0;
  for (unsigned r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    peak = run();
    times.push_back(seconds(start));
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], peak};
}

std::string command(int argc, char **argv) {
  std::string text;
  for (int i = 0; i < argc; ++i)
    text += (i ? " " : "") + std::string(argv[i]);
  return text;
}

std::string cpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

/// One sparse mask of the --masks benchmark, for sequences of N.
struct SparseCase {
  std::string name;
  std::function<std::string(int64_t)> attribute;
  std::function<::attn::reference::Mask(int64_t)> rule;
};

/// ceil(sqrt(n)), the Sparse Transformer's default length.
int64_t ceilSqrt(int64_t n) {
  int64_t r = static_cast<int64_t>(std::sqrt(double(n)));
  while (r * r < n)
    ++r;
  return r;
}

/// Pairs a mask allows in one head of an N x N autoregressive attention,
/// counted with the float64 reference's rule (not the lowering's).
double allowedPairs(const ::attn::reference::Mask &mask, int64_t n) {
  std::vector<double> rows(n);
  parallelFor(n, [&](int64_t i) {
    int64_t count = 0;
    for (int64_t j = 0; j <= i; ++j)
      count += mask.allows(i, j, n, n, 0);
    rows[i] = double(count);
  });
  double pairs = 0;
  for (double r : rows)
    pairs += r;
  return pairs;
}

/// Least-squares slope of log(time) against log(N).
double fittedExponent(const std::vector<std::pair<int64_t, double>> &points) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0, m = double(points.size());
  for (auto [n, t] : points) {
    double x = std::log(double(n)), y = std::log(t);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

int runMaskBenchmark(double peak, llvm::raw_fd_ostream *json) {
  using ::attn::reference::Mask;
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {1024, 2048, 4096, 8192, 16384, 32768};
  int64_t d = 128;
  auto window = [](int64_t left, int64_t dilation) {
    return SparseCase{
        dilation == 1 ? "window " + std::to_string(left + 1)
                      : "window " + std::to_string(left / dilation + 1) +
                            " dilated x" + std::to_string(dilation),
        [=](int64_t) {
          return "#attn.window<left = " + std::to_string(left) +
                 ", right = 0, alignment = top_left, dilation = " +
                 std::to_string(dilation) + ">";
        },
        [=](int64_t) {
          Mask m;
          m.kind = Mask::Kind::Window;
          m.left = left;
          m.dilation = dilation;
          return m;
        }};
  };
  std::vector<SparseCase> cases = {
      window(255, 1),
      window(511, 1),
      window(1020, 4),
      {"strided l=sqrt(N)", [](int64_t) { return "#attn.strided<>"; },
       [](int64_t n) {
         Mask m;
         m.kind = Mask::Kind::Strided;
         m.length = ceilSqrt(n);
         return m;
       }},
      {"fixed l=sqrt(N) c=8",
       [](int64_t) { return "#attn.fixed<summary = 8>"; },
       [](int64_t n) {
         Mask m;
         m.kind = Mask::Kind::Fixed;
         m.length = ceilSqrt(n);
         m.summary = 8;
         return m;
       }},
      {"causal (baseline)", [](int64_t) { return "#attn.causal<top_left>"; },
       [](int64_t) {
         Mask m;
         m.kind = Mask::Kind::Causal;
         return m;
       }}};

  llvm::outs() << "| mask | N | time ms | pairs/row | GFLOP/s on pairs | "
                  "% of peak | vs causal |\n|---|---|---|---|---|---|---|\n";
  auto context = mlir::attn::createCompilerContext();
  std::map<int64_t, double> causalTime;
  // The baseline first, so that every mask's row can be compared with it.
  std::rotate(cases.begin(), cases.end() - 1, cases.end());
  for (const SparseCase &c : cases) {
    bool baseline = c.name == "causal (baseline)";
    std::vector<std::pair<int64_t, double>> points;
    for (int64_t n : ns) {
      if (baseline && n > baselineMaxN)
        continue;
      ::attn::Module module;
      ::attn::Function f =
          compile(*context, module,
                  moduleText(heads, d, false, c.attribute(n), n), "flash");
      std::vector<int64_t> shape = {1, heads, n, d};
      HostTensor q(ATTN_DTYPE_F32, shape), k(ATTN_DTYPE_F32, shape),
          v(ATTN_DTYPE_F32, shape), out(ATTN_DTYPE_F32, shape);
      ::attn::reference::fillRandom(q, 1, 0);
      ::attn::reference::fillRandom(k, 2, 0);
      ::attn::reference::fillRandom(v, 3, 0);
      std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view()};
      std::vector<attn_tensor_t> outputs = {out.view()};
      Measurement m = timeMedian([&] { return invoke(f, inputs, outputs); });
      double pairs = double(heads) * allowedPairs(c.rule(n), n);
      double gflops = pairs * 4.0 * d / m.seconds * 1e-9;
      points.push_back({n, m.seconds});
      if (baseline)
        causalTime[n] = m.seconds;
      std::string versus =
          causalTime.count(n)
              ? llvm::formatv("{0:F3}x", m.seconds / causalTime[n]).str()
              : "-";
      llvm::outs() << "| " << c.name << " | " << n << " | "
                   << llvm::format("%.2f", m.seconds * 1e3) << " | "
                   << llvm::format("%.1f", pairs / heads / n) << " | "
                   << llvm::format("%.1f", gflops) << " | "
                   << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                   << versus << " |\n";
      llvm::outs().flush();
      if (json)
        *json << "{\"mask\": \"" << c.name << "\", \"attribute\": \""
              << c.attribute(n) << "\", \"n\": " << n << ", \"h\": " << heads
              << ", \"d\": " << d
              << ", \"time_ms\": " << llvm::format("%.3f", m.seconds * 1e3)
              << ", \"pairs\": " << llvm::format("%.0f", pairs)
              << ", \"gflops_on_pairs\": " << llvm::format("%.2f", gflops)
              << ", \"peak_fraction\": " << llvm::format("%.3f", gflops / peak)
              << "}\n";
    }
    if (points.size() > 1) {
      double exponent = fittedExponent(points);
      llvm::outs() << "| " << c.name << " | fitted exponent of time in N: "
                   << llvm::format("%.2f", exponent) << " | | | | | |\n";
      if (json)
        *json << "{\"mask\": \"" << c.name
              << "\", \"fitted_exponent\": " << llvm::format("%.3f", exponent)
              << "}\n";
    }
  }
  return 0;
}

/// The keys [first, last) that query row i of an N x N attention sees.
using RowKeys = std::function<std::pair<int64_t, int64_t>(int64_t i)>;

/// The probabilities an unfused forward keeps for its backward: P of every
/// head (H x N x N), P = exp2(scale log2(e) Q K^T - lse log2(e)) by sgemm
/// and rows on all cores, 0 for the keys a row does not see.
std::vector<float> unfusedProbs(const HostTensor &q, const HostTensor &k,
                                const HostTensor &lse, const RowKeys &keys) {
  int64_t h = q.shape()[1], n = q.shape()[2], d = q.shape()[3];
  std::vector<float> probs(size_t(h) * n * n);
  float log2e = 1.4426950408889634f;
  for (int64_t head = 0; head < h; ++head) {
    size_t at = size_t(head) * n * d;
    float *p = probs.data() + size_t(head) * n * n;
    const float *lh = lse.data<float>() + size_t(head) * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d,
                float(1.0 / std::sqrt(double(d))) * log2e,
                q.data<float>() + at, d, k.data<float>() + at, d, 0.f, p, n);
    parallelFor(n, [&](int64_t i) {
      auto [first, last] = keys(i);
      float *row = p + i * n;
      for (int64_t j = 0; j < n; ++j)
        row[j] = j >= first && j < last ? std::exp2(row[j] - lh[i] * log2e)
                                        : 0.f;
    });
  }
  return probs;
}

/// The unfused backward, head by head, from the P the forward kept
/// (`probs`, all heads): dP = dO V^T by sgemm, dS = P (dP - rowsum(dO O))
/// on all cores in dP's buffer, then dV = P^T dO, dQ = scale dS K and
/// dK = scale dS^T Q by sgemm. Returns the bytes it holds: P and one N x N
/// buffer.
size_t baselineBackward(const std::vector<const HostTensor *> &in,
                        const std::vector<float> &probs,
                        std::vector<HostTensor> &grads) {
  const HostTensor &k = *in[1], &v = *in[2], &out = *in[3], &dout = *in[4],
                   &q = *in[0];
  int64_t h = q.shape()[1], n = q.shape()[2], d = q.shape()[3];
  std::vector<float> work(size_t(n) * n);
  float scale = float(1.0 / std::sqrt(double(d)));
  for (int64_t head = 0; head < h; ++head) {
    size_t at = size_t(head) * n * d;
    const float *qh = q.data<float>() + at, *kh = k.data<float>() + at,
                *vh = v.data<float>() + at, *oh = out.data<float>() + at,
                *doh = dout.data<float>() + at,
                *ph = probs.data() + size_t(head) * n * n;
    float *dq = grads[0].data<float>() + at, *dk = grads[1].data<float>() + at,
          *dv = grads[2].data<float>() + at;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1.f, doh, d,
                vh, d, 0.f, work.data(), n);
    parallelFor(n, [&](int64_t i) {
      const float *p = ph + i * n;
      float *ds = work.data() + i * n;
      float dot = 0;
      for (int64_t e = 0; e < d; ++e)
        dot += doh[i * d + e] * oh[i * d + e];
      __m256 dd = _mm256_set1_ps(dot);
      int64_t j = 0;
      for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(
            ds + j, _mm256_mul_ps(_mm256_loadu_ps(p + j),
                                  _mm256_sub_ps(_mm256_loadu_ps(ds + j), dd)));
      for (; j < n; ++j)
        ds[j] = p[j] * (ds[j] - dot);
    });
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, 1.f, ph, n,
                doh, d, 0.f, dv, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, scale,
                work.data(), n, kh, d, 0.f, dq, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, scale,
                work.data(), n, qh, d, 0.f, dk, d);
  }
  return (probs.size() + work.size()) * sizeof(float);
}

/// The unfused backward that keeps no P: per head, S by sgemm into one
/// N x N buffer and dP into another, P = exp2(S - lse log2 e) and
/// dS = P (dP - rowsum(dO O)) on all cores, then dV, dQ and dK by sgemm:
/// one sgemm more than from a kept P, and two N x N buffers in all.
size_t baselineBackwardRecomputing(const std::vector<const HostTensor *> &in,
                                   std::vector<HostTensor> &grads,
                                   const RowKeys &keys) {
  const HostTensor &q = *in[0], &k = *in[1], &v = *in[2], &out = *in[3],
                   &dout = *in[4], &lse = *in[5];
  int64_t h = q.shape()[1], n = q.shape()[2], d = q.shape()[3];
  std::vector<float> probs(size_t(n) * n), work(size_t(n) * n);
  float scale = float(1.0 / std::sqrt(double(d)));
  float log2e = 1.4426950408889634f;
  for (int64_t head = 0; head < h; ++head) {
    size_t at = size_t(head) * n * d;
    const float *qh = q.data<float>() + at, *kh = k.data<float>() + at,
                *vh = v.data<float>() + at, *oh = out.data<float>() + at,
                *doh = dout.data<float>() + at,
                *lh = lse.data<float>() + size_t(head) * n;
    float *dq = grads[0].data<float>() + at, *dk = grads[1].data<float>() + at,
          *dv = grads[2].data<float>() + at;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d,
                scale * log2e, qh, d, kh, d, 0.f, probs.data(), n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, 1.f, doh, d,
                vh, d, 0.f, work.data(), n);
    parallelFor(n, [&](int64_t i) {
      auto [first, last] = keys(i);
      float *p = probs.data() + i * n, *ds = work.data() + i * n;
      float offset = lh[i] * log2e, dot = 0;
      for (int64_t e = 0; e < d; ++e)
        dot += doh[i * d + e] * oh[i * d + e];
      int64_t j = 0;
      for (; j < first; ++j)
        p[j] = ds[j] = 0;
      __m256 off = _mm256_set1_ps(offset), dd = _mm256_set1_ps(dot);
      for (; j + 8 <= last; j += 8) {
        __m256 pv = exp2Vector(_mm256_sub_ps(_mm256_loadu_ps(p + j), off));
        _mm256_storeu_ps(p + j, pv);
        _mm256_storeu_ps(
            ds + j, _mm256_mul_ps(pv, _mm256_sub_ps(_mm256_loadu_ps(ds + j),
                                                    dd)));
      }
      for (; j < last; ++j) {
        p[j] = std::exp2(p[j] - offset);
        ds[j] = p[j] * (ds[j] - dot);
      }
      for (; j < n; ++j)
        p[j] = ds[j] = 0;
    });
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, 1.f,
                probs.data(), n, doh, d, 0.f, dv, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, scale,
                work.data(), n, kh, d, 0.f, dq, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, d, n, scale,
                work.data(), n, qh, d, 0.f, dk, d);
  }
  return (probs.size() + work.size()) * sizeof(float);
}

/// --backward: attn.attention_grad against its forward and the unfused
/// backward, in one run.
int runBackwardBenchmark(double peak, llvm::raw_fd_ostream *json) {
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {1024, 2048, 4096, 8192, 16384};
  std::vector<int64_t> ds(headDims.begin(), headDims.end());
  if (ds.empty())
    ds = {64, 128};
  struct MaskCase {
    std::string name, attribute;
    std::function<std::pair<int64_t, int64_t>(int64_t i, int64_t n)> keys;
  };
  std::vector<MaskCase> cases = {
      {"none", "", [](int64_t, int64_t n) { return std::pair<int64_t, int64_t>(0, n); }},
      {"causal", "#attn.causal<top_left>",
       [](int64_t i, int64_t) { return std::pair<int64_t, int64_t>(0, i + 1); }},
      {"window 256",
       "#attn.window<left = 255, right = 0, alignment = top_left>",
       [](int64_t i, int64_t) {
         return std::pair<int64_t, int64_t>(std::max<int64_t>(0, i - 255),
                                            i + 1);
       }}};
  llvm::outs() << "| D | mask | N | forward ms | backward ms | backward / "
                  "forward | backward GFLOP/s | % of peak | forward MiB | "
                  "backward MiB | unfused ms | vs unfused | unfused MiB | "
                  "unfused recomputing ms | vs it | its MiB |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
                  "---|---|\n";
  auto context = mlir::attn::createCompilerContext();
  for (int64_t d : ds) {
    for (const MaskCase &c : cases) {
      if ((c.name != "none" && dense) || (c.name == "none" && causalOnly))
        continue;
      std::string t = "tensor<1x" + std::to_string(heads) + "x?x" +
                      std::to_string(d) + "xf32>";
      std::string l = "tensor<1x" + std::to_string(heads) + "x?xf32>";
      std::string mask = c.attribute.empty() ? "" : " mask(" + c.attribute + ")";
      std::string text =
          "func.func @forward(%q: " + t + ", %k: " + t + ", %v: " + t +
          ") -> (" + t + ", " + l + ") {\n  %o, %lse = attn.attention %q, %k, "
          "%v" + mask + " : (" + t + ", " + t + ", " + t + ") -> (" + t +
          ", " + l + ")\n  return %o, %lse : " + t + ", " + l +
          "\n}\nfunc.func @backward(%q: " + t + ", %k: " + t + ", %v: " + t +
          ", %o: " + t + ", %do: " + t + ", %lse: " + l + ") -> (" + t +
          ", " + t + ", " + t + ") {\n  %dq, %dk, %dv = attn.attention_grad "
          "%q, %k, %v, %o, %do, %lse" + mask + " : (" + t + ", " + t + ", " +
          t + ", " + t + ", " + t + ", " + l + ") -> (" + t + ", " + t +
          ", " + t + ")\n  return %dq, %dk, %dv : " + t + ", " + t + ", " + t +
          "\n}\n";
      ::attn::Module module;
      compile(*context, module, text, "flash", "auto", "", "forward");
      ::attn::Function forward = *module.lookup("forward");
      ::attn::Function gradient = *module.lookup("backward");
      std::vector<std::pair<int64_t, double>> points;
      for (int64_t n : ns) {
        std::vector<int64_t> shape = {1, heads, n, d}, rows = {1, heads, n};
        HostTensor q(ATTN_DTYPE_F32, shape), k(ATTN_DTYPE_F32, shape),
            v(ATTN_DTYPE_F32, shape), out(ATTN_DTYPE_F32, shape),
            dout(ATTN_DTYPE_F32, shape), lse(ATTN_DTYPE_F32, rows);
        ::attn::reference::fillRandom(q, 1, 0);
        ::attn::reference::fillRandom(k, 2, 0);
        ::attn::reference::fillRandom(v, 3, 0);
        ::attn::reference::fillRandom(dout, 4, 0);
        std::vector<HostTensor> grads, expected;
        for (int i = 0; i < 3; ++i) {
          grads.emplace_back(ATTN_DTYPE_F32, shape);
          expected.emplace_back(ATTN_DTYPE_F32, shape);
        }
        std::vector<attn_tensor_t> forwardIn = {q.view(), k.view(), v.view()};
        std::vector<attn_tensor_t> forwardOut = {out.view(), lse.view()};
        std::vector<attn_tensor_t> backwardIn = {q.view(),   k.view(),
                                                 v.view(),   out.view(),
                                                 dout.view(), lse.view()};
        std::vector<attn_tensor_t> backwardOut = {
            grads[0].view(), grads[1].view(), grads[2].view()};
        Measurement fwd =
            timeMedian([&] { return invoke(forward, forwardIn, forwardOut); });
        Measurement bwd = timeMedian(
            [&] { return invoke(gradient, backwardIn, backwardOut); });
        Measurement base, recomputing;
        std::vector<const HostTensor *> in = {&q, &k, &v, &out, &dout, &lse};
        RowKeys keys = [&](int64_t i) { return c.keys(i, n); };
        // attn's gradients against a baseline's: a sanity check, not the
        // test.
        auto compare = [&]() -> bool {
          for (int i = 0; i < 3; ++i) {
            double worst = 0, largest = 1e-6;
            for (int64_t e = 0; e < grads[i].numElements(); ++e) {
              float x = grads[i].data<float>()[e],
                    y = expected[i].data<float>()[e];
              worst = std::max(worst, double(std::abs(x - y)));
              largest = std::max(largest, double(std::abs(y)));
            }
            if (!(worst <= 1e-3 * largest)) {
              llvm::errs() << "gradient " << i << " and the baseline's differ "
                           << "by " << worst << " (largest " << largest
                           << ")\n";
              return false;
            }
          }
          return true;
        };
        if (n <= baselineMaxN) {
          recomputing = timeMedian([&] {
            return uint64_t(baselineBackwardRecomputing(in, expected, keys));
          });
          if (!compare())
            return 1;
          std::vector<float> probs = unfusedProbs(q, k, lse, keys);
          base = timeMedian(
              [&] { return uint64_t(baselineBackward(in, probs, expected)); });
          if (!compare())
            return 1;
        }
        double pairs = 0;
        for (int64_t i = 0; i < n; ++i) {
          auto [first, last] = c.keys(i, n);
          pairs += double(last - first);
        }
        pairs *= double(heads);
        // FlashAttention-2's count: five products of 2 D FLOPs per pair.
        double gflops = pairs * 10.0 * d / bwd.seconds * 1e-9;
        points.push_back({n, bwd.seconds});
        auto mib = [](uint64_t bytes) {
          return llvm::format("%.2f", bytes / 1048576.0);
        };
        llvm::outs() << "| " << d << " | " << c.name << " | " << n << " | "
                     << llvm::format("%.2f", fwd.seconds * 1e3) << " | "
                     << llvm::format("%.2f", bwd.seconds * 1e3) << " | "
                     << llvm::format("%.2f", bwd.seconds / fwd.seconds)
                     << " | " << llvm::format("%.1f", gflops) << " | "
                     << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                     << mib(fwd.peakBytes) << " | " << mib(bwd.peakBytes)
                     << " | ";
        for (const Measurement *m : {&base, &recomputing}) {
          if (std::isnan(m->seconds))
            llvm::outs() << "- | - | - |";
          else
            llvm::outs() << llvm::format("%.2f", m->seconds * 1e3) << " | "
                         << llvm::format("%.2fx", m->seconds / bwd.seconds)
                         << " | " << mib(m->peakBytes) << " |";
          llvm::outs() << (m == &base ? " " : "\n");
        }
        llvm::outs().flush();
        if (json) {
          *json << "{\"d\": " << d << ", \"mask\": \"" << c.name
                << "\", \"n\": " << n << ", \"h\": " << heads
                << ", \"forward_ms\": "
                << llvm::format("%.3f", fwd.seconds * 1e3)
                << ", \"backward_ms\": "
                << llvm::format("%.3f", bwd.seconds * 1e3)
                << ", \"backward_over_forward\": "
                << llvm::format("%.3f", bwd.seconds / fwd.seconds)
                << ", \"backward_gflops\": " << llvm::format("%.2f", gflops)
                << ", \"peak_fraction\": "
                << llvm::format("%.3f", gflops / peak)
                << ", \"forward_peak_bytes\": " << fwd.peakBytes
                << ", \"backward_peak_bytes\": " << bwd.peakBytes;
          for (auto [name, m] : {std::pair("unfused", &base),
                                 std::pair("unfused_recomputing",
                                           &recomputing)})
            if (!std::isnan(m->seconds))
              *json << ", \"" << name << "_ms\": "
                    << llvm::format("%.3f", m->seconds * 1e3)
                    << ", \"speedup_vs_" << name << "\": "
                    << llvm::format("%.3f", m->seconds / bwd.seconds)
                    << ", \"" << name << "_peak_bytes\": " << m->peakBytes;
          *json << "}\n";
        }
      }
      if (points.size() > 1) {
        double exponent = fittedExponent(points);
        llvm::outs() << "| " << d << " | " << c.name
                     << " | fitted exponent of backward time in N: "
                     << llvm::format("%.2f", exponent)
                     << " | | | | | | | | | | | | | |\n";
        if (json)
          *json << "{\"d\": " << d << ", \"mask\": \"" << c.name
                << "\", \"backward_fitted_exponent\": "
                << llvm::format("%.3f", exponent) << "}\n";
      }
    }
  }
  return 0;
}

/// --bf16: dense flash on bf16 inputs against the same on f32, one run.
/// --score-mods: what a score modifier costs the flash strategy. The plain
/// kernel and each modifier are timed in alternation, run after run, so
/// that their ratios compare the same moments of a shared machine; each
/// takes its median.
int runScoreModBenchmark(double peak, llvm::raw_fd_ostream *json) {
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {1024, 2048, 4096};
  int64_t d = headDims.empty() ? 128 : headDims.front();
  struct Variant {
    std::string name, attribute;
  };
  std::vector<Variant> variants = {{"plain", ""},
                                   {"softcap", "#attn.softcap<cap = 50.0>"},
                                   {"alibi", "#attn.alibi<top_left>"}};
  llvm::outs() << "| D | N | modifier | time ms | GFLOP/s | % of peak | "
                  "vs plain |\n|---|---|---|---|---|---|---|\n";
  auto context = mlir::attn::createCompilerContext();
  std::vector<::attn::Module> modules(variants.size());
  std::vector<::attn::Function> functions;
  for (size_t i = 0; i < variants.size(); ++i)
    functions.push_back(compile(*context, modules[i],
                                moduleText(heads, d, true, "", 0, "f32",
                                           variants[i].attribute),
                                "flash"));
  for (int64_t n : ns) {
    std::vector<int64_t> shape = {1, heads, n, d};
    HostTensor q(ATTN_DTYPE_F32, shape), k(ATTN_DTYPE_F32, shape),
        v(ATTN_DTYPE_F32, shape), out(ATTN_DTYPE_F32, shape);
    ::attn::reference::fillRandom(q, 1, 0);
    ::attn::reference::fillRandom(k, 2, 0);
    ::attn::reference::fillRandom(v, 3, 0);
    std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view()};
    std::vector<attn_tensor_t> outputs = {out.view()};
    std::vector<std::vector<double>> times(variants.size());
    for (::attn::Function &f : functions)
      invoke(f, inputs, outputs); // warm-up
    for (unsigned r = 0; r < repeats; ++r)
      for (size_t i = 0; i < functions.size(); ++i) {
        auto start = Clock::now();
        invoke(functions[i], inputs, outputs);
        times[i].push_back(seconds(start));
      }
    double pairs = double(heads) * n * (n + 1) / 2;
    double plain = 0;
    for (size_t i = 0; i < variants.size(); ++i) {
      std::sort(times[i].begin(), times[i].end());
      double median = times[i][times[i].size() / 2];
      if (i == 0)
        plain = median;
      double gflops = pairs * 4.0 * d / median * 1e-9;
      llvm::outs() << "| " << d << " | " << n << " | " << variants[i].name
                   << " | " << llvm::format("%.2f", median * 1e3) << " | "
                   << llvm::format("%.1f", gflops) << " | "
                   << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                   << llvm::format("%.3fx", median / plain) << " |\n";
      llvm::outs().flush();
      if (json)
        *json << "{\"d\": " << d << ", \"n\": " << n << ", \"h\": " << heads
              << ", \"modifier\": \"" << variants[i].name
              << "\", \"attribute\": \"" << variants[i].attribute
              << "\", \"time_ms\": " << llvm::format("%.3f", median * 1e3)
              << ", \"gflops\": " << llvm::format("%.2f", gflops)
              << ", \"peak_fraction\": " << llvm::format("%.3f", gflops / peak)
              << ", \"time_vs_plain\": " << llvm::format("%.3f", median / plain)
              << "}\n";
    }
  }
  return 0;
}

/// --packed: 8 causal sequences of different lengths packed into one row
/// (sequences(%cu, %cu)) against the same batch padded to the longest (a
/// batch row per sequence, key lengths; the padded query rows computed as
/// an unpacked kernel does), timed in alternation; the pairs each attends
/// by the rules of the float64 reference.
int runPackedBenchmark(double peak, llvm::raw_fd_ostream *json) {
  const std::vector<int64_t> sequences = {128, 256, 384, 512,
                                          1024, 1536, 2048, 4096};
  int64_t d = 64, total = 0,
          longest = *std::max_element(sequences.begin(), sequences.end());
  std::vector<int32_t> offsets = {0}, lengths;
  for (int64_t n : sequences) {
    total += n;
    offsets.push_back(int32_t(total));
    lengths.push_back(int32_t(n));
  }
  auto type = [&](const std::string &b, const std::string &n) {
    return "tensor<" + b + "x" + std::to_string(heads) + "x" + n + "x" +
           std::to_string(d) + "xf32>";
  };
  // @attention(q, k, v, %extra: tensor<?xi32>) with q, k, v of `t` and
  // the attention's `clause` reading %extra.
  auto moduleWith = [](const std::string &t, const std::string &clause,
                       const std::string &extraTypes) {
    return "func.func @attention(%q: " + t + ", %k: " + t + ", %v: " + t +
           ", %extra: tensor<?xi32>) -> " + t +
           " {\n  %o = attn.attention %q, %k, %v " + clause +
           " mask(#attn.causal<top_left>) : (" + t + ", " + t + ", " + t +
           ", " + extraTypes + ") -> " + t + "\n  return %o : " + t +
           "\n}\n";
  };
  std::string packedText =
      moduleWith(type("1", "?"), "sequences(%extra, %extra)",
                 "tensor<?xi32>, tensor<?xi32>");
  std::string paddedText = moduleWith(type("?", "?"), "key_lengths(%extra)",
                                      "tensor<?xi32>");
  auto context = mlir::attn::createCompilerContext();
  ::attn::Module packedModule, paddedModule;
  ::attn::Function packedF =
      compile(*context, packedModule, packedText, "flash");
  ::attn::Function paddedF =
      compile(*context, paddedModule, paddedText, "flash");

  std::vector<int64_t> packedShape = {1, heads, total, d};
  HostTensor q(ATTN_DTYPE_F32, packedShape), k(ATTN_DTYPE_F32, packedShape),
      v(ATTN_DTYPE_F32, packedShape), out(ATTN_DTYPE_F32, packedShape);
  ::attn::reference::fillRandom(q, 1, 0);
  ::attn::reference::fillRandom(k, 2, 0);
  ::attn::reference::fillRandom(v, 3, 0);
  HostTensor cu = HostTensor::fromValues<int32_t>(
      {int64_t(offsets.size())}, offsets);
  // The padded batch: sequence b's rows at batch row b, zeros past it.
  int64_t batch = int64_t(sequences.size());
  std::vector<int64_t> paddedShape = {batch, heads, longest, d};
  HostTensor pq(ATTN_DTYPE_F32, paddedShape), pk(ATTN_DTYPE_F32, paddedShape),
      pv(ATTN_DTYPE_F32, paddedShape), pout(ATTN_DTYPE_F32, paddedShape);
  for (auto [from, to] : {std::pair(&q, &pq), std::pair(&k, &pk),
                          std::pair(&v, &pv)}) {
    std::fill_n(to->data<float>(), to->numElements(), 0.f);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        std::copy_n(from->data<float>() + (h * total + offsets[b]) * d,
                    sequences[b] * d,
                    to->data<float>() + ((b * heads + h) * longest) * d);
  }
  HostTensor len =
      HostTensor::fromValues<int32_t>({batch}, lengths);
  std::vector<attn_tensor_t> packedIn = {q.view(), k.view(), v.view(),
                                         cu.view()},
                             packedOut = {out.view()},
                             paddedIn = {pq.view(), pk.view(), pv.view(),
                                         len.view()},
                             paddedOut = {pout.view()};
  // The two agree on every real row (a sanity check; the tests compare
  // with float64).
  invoke(packedF, packedIn, packedOut);
  invoke(paddedF, paddedIn, paddedOut);
  double worst = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < sequences[b] * d; ++i)
        worst = std::max(
            worst, double(std::abs(
                       out.data<float>()[(h * total + offsets[b]) * d + i] -
                       pout.data<float>()[((b * heads + h) * longest) * d +
                                          i])));
  if (worst > 1e-3) {
    llvm::errs() << "packed and padded differ by " << worst << "\n";
    return 1;
  }
  std::vector<double> packedTimes, paddedTimes;
  for (unsigned r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    invoke(packedF, packedIn, packedOut);
    packedTimes.push_back(seconds(start));
    start = Clock::now();
    invoke(paddedF, paddedIn, paddedOut);
    paddedTimes.push_back(seconds(start));
  }
  auto median = [](std::vector<double> times) {
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  double packedTime = median(packedTimes), paddedTime = median(paddedTimes);
  // Pairs: each sequence's causal pairs; padded, every row of every batch
  // row sees min(i + 1, its length) keys.
  double packedPairs = 0, paddedPairs = 0;
  for (int64_t n : sequences) {
    packedPairs += double(heads) * n * (n + 1) / 2;
    for (int64_t i = 0; i < longest; ++i)
      paddedPairs += double(heads) * double(std::min(i + 1, n));
  }
  llvm::outs() << "| layout | tokens | time ms | pairs attended | GFLOP/s on "
                  "the sequences' pairs | % of peak | time vs packed |\n"
                  "|---|---|---|---|---|---|---|\n";
  auto row = [&](const char *name, int64_t tokens, double time, double pairs) {
    double gflops = packedPairs * 4.0 * d / time * 1e-9;
    llvm::outs() << "| " << name << " | " << tokens << " | "
                 << llvm::format("%.2f", time * 1e3) << " | "
                 << llvm::format("%.0f", pairs) << " | "
                 << llvm::format("%.1f", gflops) << " | "
                 << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                 << llvm::format("%.2fx", time / packedTime) << " |\n";
    if (json)
      *json << "{\"layout\": \"" << name << "\", \"tokens\": " << tokens
            << ", \"h\": " << heads << ", \"d\": " << d
            << ", \"time_ms\": " << llvm::format("%.3f", time * 1e3)
            << ", \"pairs\": " << llvm::format("%.0f", pairs)
            << ", \"time_vs_packed\": "
            << llvm::format("%.3f", time / packedTime) << "}\n";
  };
  row("packed", total, packedTime, packedPairs);
  row("padded to the longest", batch * longest, paddedTime, paddedPairs);
  return 0;
}

int runBf16Benchmark(double peak, llvm::raw_fd_ostream *json) {
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {1024, 2048, 4096};
  std::vector<int64_t> ds(headDims.begin(), headDims.end());
  if (ds.empty())
    ds = {64, 128};
  bool dot = __builtin_cpu_supports("avx512bf16");
  llvm::outs() << "| D | N | inputs | time ms | GFLOP/s | % of peak | "
                  "vs f32 |\n|---|---|---|---|---|---|---|\n";
  auto context = mlir::attn::createCompilerContext();
  for (int64_t d : ds) {
    ::attn::Module f32Module, bf16Module, widenedModule;
    ::attn::Function f32Flash = compile(
        *context, f32Module, moduleText(heads, d, false), "flash");
    std::string text = moduleText(heads, d, false, "", 0, "bf16");
    ::attn::Function bf16Flash = compile(*context, bf16Module, text, "flash");
    std::optional<::attn::Function> widened;
    if (dot)
      widened = compile(*context, widenedModule, text, "flash", "auto",
                        "-avx512bf16");
    for (int64_t n : ns) {
      std::vector<int64_t> shape = {1, heads, n, d};
      // The same values in both types: bf16 draws, held exactly in f32.
      std::vector<HostTensor> half, full;
      for (uint64_t seed : {1, 2, 3}) {
        half.emplace_back(ATTN_DTYPE_BF16, shape);
        full.emplace_back(ATTN_DTYPE_F32, shape);
        ::attn::reference::fillRandom(half.back(), seed, 0);
        for (int64_t i = 0; i < half.back().numElements(); ++i)
          ::attn::reference::storeElement(
              full.back(), i, ::attn::reference::loadElement(half.back(), i));
      }
      HostTensor halfOut(ATTN_DTYPE_BF16, shape), fullOut(ATTN_DTYPE_F32, shape);
      std::vector<attn_tensor_t> halfInputs = {half[0].view(), half[1].view(),
                                               half[2].view()},
                                 fullInputs = {full[0].view(), full[1].view(),
                                               full[2].view()};
      std::vector<attn_tensor_t> halfOutputs = {halfOut.view()},
                                 fullOutputs = {fullOut.view()};
      Measurement f32Time =
          timeMedian([&] { return invoke(f32Flash, fullInputs, fullOutputs); });
      Measurement widenedTime;
      if (widened)
        widenedTime = timeMedian(
            [&] { return invoke(*widened, halfInputs, halfOutputs); });
      Measurement bf16Time =
          timeMedian([&] { return invoke(bf16Flash, halfInputs, halfOutputs); });
      // bf16 against f32 on the same values: a sanity check, not the test
      // (outputs are averages of values in [-1, 1); bf16 keeps 8 bits).
      double worst = 0;
      for (int64_t i = 0; i < fullOut.numElements(); ++i)
        worst = std::max(
            worst, std::abs(::attn::reference::loadElement(halfOut, i) -
                            ::attn::reference::loadElement(fullOut, i)));
      if (worst > 2e-2) {
        llvm::errs() << "bf16 and f32 flash differ by " << worst << "\n";
        return 1;
      }
      double flops = double(heads) * n * n * 4.0 * d;
      auto row = [&](const char *inputs, const Measurement &m) {
        if (std::isnan(m.seconds))
          return;
        double gflops = flops / m.seconds * 1e-9;
        llvm::outs() << "| " << d << " | " << n << " | " << inputs << " | "
                     << llvm::format("%.2f", m.seconds * 1e3) << " | "
                     << llvm::format("%.1f", gflops) << " | "
                     << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                     << llvm::format("%.2fx", f32Time.seconds / m.seconds)
                     << " |\n";
        llvm::outs().flush();
        if (json)
          *json << "{\"d\": " << d << ", \"n\": " << n << ", \"h\": " << heads
                << ", \"inputs\": \"" << inputs << "\", \"time_ms\": "
                << llvm::format("%.3f", m.seconds * 1e3)
                << ", \"gflops\": " << llvm::format("%.2f", gflops)
                << ", \"peak_fraction\": " << llvm::format("%.3f", gflops / peak)
                << ", \"speedup_vs_f32\": "
                << llvm::format("%.3f", f32Time.seconds / m.seconds) << "}\n";
      };
      row("f32", f32Time);
      row(dot ? "bf16 (vdpbf16ps pairs)" : "bf16 (widened)", bf16Time);
      row("bf16 widened (-avx512bf16)", widenedTime);
    }
  }
  return 0;
}

/// Memory bandwidth, the best of five tries over 1 GiB on all cores: memcpy
/// (the bytes copied per second, each read once and written once) and a
/// read-only stream (a vectorized sum, the ceiling of anything that reads
/// a buffer once), in bytes per second.
std::pair<double, double> measureBandwidth() {
  const size_t bytes = size_t(1) << 30;
  std::vector<float> from(bytes / sizeof(float), 1.0f),
      to(bytes / sizeof(float), 0.0f);
  size_t part = from.size() / cores();
  double copy = 0, read = 0;
  std::vector<float> sink(cores());
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto start = Clock::now();
    parallelFor(cores(), [&](int64_t t) {
      std::memcpy(to.data() + t * part, from.data() + t * part,
                  part * sizeof(float));
    });
    copy = std::max(copy, part * cores() * sizeof(float) / seconds(start));
    start = Clock::now();
    parallelFor(cores(), [&](int64_t t) {
      const float *p = from.data() + t * part;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (size_t i = 0; i + 32 <= part; i += 32)
        for (int j = 0; j < 4; ++j)
          acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(p + i + 8 * j));
      sink[t] = acc[0][0] + acc[1][1] + acc[2][2] + acc[3][3];
    });
    read = std::max(read, part * cores() * sizeof(float) / seconds(start));
  }
  return {copy, read};
}

/// --decode: per-token time of the decode strategy over a full cache, as
/// K/V bytes streamed per second against the machine's bandwidth, and each
/// grouped variant against MHA's time divided by its group size.
int runDecodeBenchmark(double peak, llvm::raw_fd_ostream *json) {
  std::vector<int64_t> contexts(lengths.begin(), lengths.end());
  if (contexts.empty())
    contexts = {1024, 4096, 16384, 32768, 65536};
  const int64_t h = 32, d = 128;
  auto [copyBandwidth, readBandwidth] = measureBandwidth();
  llvm::outs() << "memcpy: " << llvm::format("%.2f", copyBandwidth * 1e-9)
               << " GB/s copied; read-only stream: "
               << llvm::format("%.2f", readBandwidth * 1e-9) << " GB/s\n\n";
  if (json)
    *json << "{\"memcpy_gbps\": " << llvm::format("%.3f", copyBandwidth * 1e-9)
          << ", \"read_gbps\": " << llvm::format("%.3f", readBandwidth * 1e-9)
          << "}\n";
  llvm::outs() << "| B | kind | Hkv | context | ms per token | K/V GB/s | of "
                  "memcpy | of read | vs MHA / g |\n"
                  "|---|---|---|---|---|---|---|---|---|\n";
  auto context = mlir::attn::createCompilerContext();
  // One new token's q against the whole cache of each row.
  auto text = [&](int64_t kvHeads) {
    std::string q = "tensor<?x32x1x128xf32>",
                kv = "tensor<?x" + std::to_string(kvHeads) + "x?x128xf32>";
    return "func.func @attention(%q: " + q + ", %k: " + kv + ", %v: " + kv +
           ", %len: tensor<?xi32>) -> " + q +
           " {\n  %o = attn.attention %q, %k, %v key_lengths(%len) "
           "mask(#attn.causal<bottom_right>) : (" +
           q + ", " + kv + ", " + kv + ", tensor<?xi32>) -> " + q +
           "\n  return %o : " + q + "\n}\n";
  };
  struct Kind {
    const char *name;
    int64_t kvHeads;
    ::attn::Module module;
    ::attn::Function function;
  };
  std::vector<Kind> kinds = {
      {"MHA", 32, {}, {}}, {"GQA-4", 8, {}, {}}, {"MQA", 1, {}, {}}};
  for (Kind &kind : kinds)
    kind.function =
        compile(*context, kind.module, text(kind.kvHeads), "decode");
  // A random pattern repeated: drawing billions of values would take longer
  // than the benchmark.
  HostTensor pattern(ATTN_DTYPE_F32, {4096});
  ::attn::reference::fillRandom(pattern, 2, 0);
  for (int64_t batch : {1, 8}) {
    for (int64_t s : contexts) {
      // The three kinds at one (B, context) are timed in alternation, one
      // step each per round, so that their ratios compare the same moments
      // of a shared machine.
      struct Case {
        Kind *kind;
        double cacheBytes;
        HostTensor q, k, v, out, lengths;
        std::vector<double> times;
      };
      std::vector<Case> cases;
      for (Kind &kind : kinds) {
        double cacheBytes = 2.0 * batch * kind.kvHeads * s * d * sizeof(float);
        if (cacheBytes > decodeMaxGiB * (1 << 30)) {
          llvm::outs() << "| " << batch << " | " << kind.name << " | "
                       << kind.kvHeads << " | " << s << " | skipped: "
                       << llvm::format("%.1f", cacheBytes / (1 << 30))
                       << " GiB of cache | | | | |\n";
          continue;
        }
        Case c{&kind,
               cacheBytes,
               HostTensor(ATTN_DTYPE_F32, {batch, h, 1, d}),
               HostTensor(ATTN_DTYPE_F32, {batch, kind.kvHeads, s, d}),
               HostTensor(ATTN_DTYPE_F32, {batch, kind.kvHeads, s, d}),
               HostTensor(ATTN_DTYPE_F32, {batch, h, 1, d}),
               HostTensor::fromValues<int32_t>(
                   {batch}, std::vector<int32_t>(batch, int32_t(s))),
               {}};
        ::attn::reference::fillRandom(c.q, 1, 0);
        for (HostTensor *t : {&c.k, &c.v})
          for (int64_t i = 0; i < t->numElements(); i += 4096)
            std::memcpy(t->data<float>() + i, pattern.data<float>(),
                        std::min<int64_t>(4096, t->numElements() - i) *
                            sizeof(float));
        cases.push_back(std::move(c));
      }
      for (unsigned round = 0; round <= repeats; ++round)
        for (Case &c : cases) {
          std::vector<attn_tensor_t> inputs = {c.q.view(), c.k.view(),
                                               c.v.view(), c.lengths.view()};
          std::vector<attn_tensor_t> outputs = {c.out.view()};
          auto start = Clock::now();
          invoke(c.kind->function, inputs, outputs);
          if (round > 0) // round 0 warms up
            c.times.push_back(seconds(start));
        }
      double mhaTime = NAN;
      for (Case &c : cases) {
        std::sort(c.times.begin(), c.times.end());
        double time = c.times[c.times.size() / 2];
        int64_t group = h / c.kind->kvHeads;
        if (group == 1)
          mhaTime = time;
        double versus = time / (mhaTime / double(group));
        double bandwidth = c.cacheBytes / time;
        llvm::outs() << "| " << batch << " | " << c.kind->name << " | "
                     << c.kind->kvHeads << " | " << s << " | "
                     << llvm::format("%.3f", time * 1e3) << " | "
                     << llvm::format("%.2f", bandwidth * 1e-9) << " | "
                     << llvm::format("%.0f%%", 100 * bandwidth / copyBandwidth)
                     << " | "
                     << llvm::format("%.0f%%", 100 * bandwidth / readBandwidth)
                     << " | "
                     << (std::isnan(versus)
                             ? std::string("-")
                             : llvm::formatv("{0:F2}x", versus).str())
                     << " |\n";
        llvm::outs().flush();
        if (json)
          *json << "{\"b\": " << batch << ", \"kind\": \"" << c.kind->name
                << "\", \"h\": " << h << ", \"kv_heads\": " << c.kind->kvHeads
                << ", \"d\": " << d << ", \"context\": " << s
                << ", \"ms_per_token\": " << llvm::format("%.4f", time * 1e3)
                << ", \"kv_gbps\": " << llvm::format("%.3f", bandwidth * 1e-9)
                << ", \"of_memcpy\": "
                << llvm::format("%.3f", bandwidth / copyBandwidth)
                << ", \"of_read\": "
                << llvm::format("%.3f", bandwidth / readBandwidth)
                << ", \"vs_mha_over_g\": "
                << (std::isnan(versus) ? std::string("null")
                                       : llvm::formatv("{0:F3}", versus).str())
                << ", \"gflops\": "
                << llvm::format("%.2f", 4.0 * batch * h * s * d / time * 1e-9)
                << ", \"peak_fraction\": "
                << llvm::format("%.3f",
                                4.0 * batch * h * s * d / time * 1e-9 / peak)
                << "}\n";
      }
    }
  }
  return 0;
}

/// A function @attention of one attn.linear_attention over (1, H, n, D) f32
/// operands; with `state`, it takes and returns the (1, H, D, D + 1) state.
std::string linearText(int64_t h, int64_t d, bool causal, bool state,
                       const std::string &n = "?") {
  std::string t = "tensor<1x" + std::to_string(h) + "x" + n + "x" +
                  std::to_string(d) + "xf32>";
  std::string st = "tensor<1x" + std::to_string(h) + "x" + std::to_string(d) +
                   "x" + std::to_string(d + 1) + "xf32>";
  std::string args = "%q: " + t + ", %k: " + t + ", %v: " + t;
  std::string types = t + ", " + t + ", " + t;
  std::string results = t, values = "%o", returned = "%o : " + t;
  if (state) {
    args += ", %s0: " + st;
    types += ", " + st;
    results = "(" + t + ", " + st + ")";
    values = "%o, %s";
    returned = "%o, %s : " + t + ", " + st;
  }
  std::string op = "attn.linear_attention %q, %k, %v";
  if (state)
    op += " state(%s0)";
  if (causal)
    op += " causal";
  return "func.func @attention(" + args + ") -> " + results + " {\n  " +
         values + " = " + op + " : (" + types + ") -> " + results +
         "\n  return " + returned + "\n}\n";
}

/// A random f32 tensor.
HostTensor randomTensor(std::vector<int64_t> shape, uint64_t seed) {
  HostTensor t(ATTN_DTYPE_F32, std::move(shape));
  ::attn::reference::fillRandom(t, seed, 0);
  return t;
}

std::string millis(double seconds) {
  return std::isnan(seconds) ? std::string("-")
                             : llvm::formatv("{0:F2}", seconds * 1e3).str();
}

/// --linear: linear attention's time against N (its fitted exponent), the
/// flash strategy of softmax attention on the same shapes (the crossover),
/// and the per-token time of a recurrent decoding step after contexts of
/// 1k and 32k tokens, beside the decode strategy of softmax attention.
int runLinearBenchmark(double peak, llvm::raw_fd_ostream *json) {
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
  const int64_t h = heads, d = 64;
  auto context = mlir::attn::createCompilerContext();
  llvm::outs() << "| mask | N | linear form | linear ms | flash ms | flash / "
                  "linear | linear GFLOP/s | % of peak |\n"
                  "|---|---|---|---|---|---|---|---|\n";
  for (bool causal : {false, true}) {
    ::attn::Module linearModule, flashModule;
    ::attn::Function lin = compile(*context, linearModule,
                                   linearText(h, d, causal, false), "auto");
    ::attn::Function flash =
        compile(*context, flashModule, moduleText(h, d, causal), "flash");
    const char *form = causal ? "chunked" : "parallel";
    const char *mask = causal ? "causal" : "none";
    std::vector<std::pair<int64_t, double>> points;
    int64_t crossover = -1;
    for (int64_t n : ns) {
      std::vector<int64_t> shape = {1, h, n, d};
      HostTensor q = randomTensor(shape, 1), k = randomTensor(shape, 2),
                 v = randomTensor(shape, 3), out(ATTN_DTYPE_F32, shape);
      std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view()};
      std::vector<attn_tensor_t> outputs = {out.view()};
      Measurement m = timeMedian([&] { return invoke(lin, inputs, outputs); });
      // The exponent is fitted from 1k on: below, fixed costs still show.
      if (n >= 1024)
        points.push_back({n, m.seconds});
      Measurement f;
      if (n <= baselineMaxN)
        f = timeMedian([&] { return invoke(flash, inputs, outputs); });
      if (crossover < 0 && !std::isnan(f.seconds) && m.seconds < f.seconds)
        crossover = n;
      // The work of the form: the state from the keys and its reads,
      // 2 D (D + 1) each per key and per query row; causal chunks of 64 add
      // their masked 64 x 64 products, 2 * 64 (2 D + 1) per row.
      double flops = 4.0 * h * n * d * (d + 1);
      if (causal)
        flops += 2.0 * h * n * 64 * (2 * d + 1);
      double gflops = flops / m.seconds * 1e-9;
      std::string ratio =
          std::isnan(f.seconds)
              ? std::string("-")
              : llvm::formatv("{0:F2}x", f.seconds / m.seconds).str();
      llvm::outs() << "| " << mask << " | " << n << " | " << form << " | "
                   << millis(m.seconds) << " | " << millis(f.seconds) << " | "
                   << ratio << " | " << llvm::format("%.1f", gflops) << " | "
                   << llvm::format("%.0f%%", 100 * gflops / peak) << " |\n";
      llvm::outs().flush();
      if (json)
        *json << "{\"linear\": true, \"mask\": \"" << mask << "\", \"n\": " << n
              << ", \"h\": " << h << ", \"d\": " << d << ", \"form\": \""
              << form
              << "\", \"linear_ms\": " << llvm::format("%.3f", m.seconds * 1e3)
              << ", \"flash_ms\": "
              << (std::isnan(f.seconds)
                      ? std::string("null")
                      : llvm::formatv("{0:F3}", f.seconds * 1e3).str())
              << ", \"linear_gflops\": " << llvm::format("%.2f", gflops)
              << ", \"peak_fraction\": " << llvm::format("%.3f", gflops / peak)
              << "}\n";
    }
    double exponent = fittedExponent(points);
    std::string crossed = crossover < 0 ? std::string("none in range")
                                        : std::to_string(crossover);
    llvm::outs() << "| " << mask << " | fitted exponent of time in N >= 1024: "
                 << llvm::format("%.2f", exponent)
                 << " | first N where linear beats flash: " << crossed
                 << " | | | | | |\n";
    if (json)
      *json << "{\"linear\": true, \"mask\": \"" << mask
            << "\", \"fitted_exponent\": " << llvm::format("%.3f", exponent)
            << ", \"crossover_n\": "
            << (crossover < 0 ? std::string("null") : crossed) << "}\n";
  }

  // Decoding: the state after a chunked prefill of the context, then one
  // recurrent step from it; beside it one decode step of softmax attention
  // against a cache of the same context.
  llvm::outs() << "\n| context | linear recurrent step ms | softmax decode "
                  "step ms |\n|---|---|---|\n";
  ::attn::Module prefillModule, stepModule, softmaxModule;
  ::attn::Function prefill = compile(
      *context, prefillModule, linearText(h, d, true, true), "auto", "chunked");
  ::attn::Function step =
      compile(*context, stepModule, linearText(h, d, true, true, "1"), "auto",
              "recurrent");
  std::string one = "tensor<1x" + std::to_string(h) + "x1x" +
                    std::to_string(d) + "xf32>",
              cache = "tensor<1x" + std::to_string(h) + "x?x" +
                      std::to_string(d) + "xf32>";
  ::attn::Function softmax =
      compile(*context, softmaxModule,
              "func.func @attention(%q: " + one + ", %k: " + cache +
                  ", %v: " + cache + ") -> " + one +
                  " {\n  %o = attn.attention %q, %k, %v "
                  "mask(#attn.causal<bottom_right>) : (" +
                  one + ", " + cache + ", " + cache + ") -> " + one +
                  "\n  return %o : " + one + "\n}\n",
              "decode");
  // The states of both contexts first; then the steps from each are timed
  // in alternation, so that both see the same machine.
  const std::vector<int64_t> contexts = {1024, 32768};
  std::vector<int64_t> stateShape = {1, h, d, d + 1};
  std::vector<HostTensor> states;
  std::map<int64_t, double> softmaxTime;
  HostTensor qt = randomTensor({1, h, 1, d}, 7),
             kt = randomTensor({1, h, 1, d}, 8),
             vt = randomTensor({1, h, 1, d}, 9),
             ot(ATTN_DTYPE_F32, {1, h, 1, d}), next(ATTN_DTYPE_F32, stateShape);
  for (int64_t s : contexts) {
    std::vector<int64_t> shape = {1, h, s, d};
    HostTensor q = randomTensor(shape, 4), k = randomTensor(shape, 5),
               v = randomTensor(shape, 6), out(ATTN_DTYPE_F32, shape),
               zero(ATTN_DTYPE_F32, stateShape);
    states.emplace_back(ATTN_DTYPE_F32, stateShape);
    std::vector<attn_tensor_t> prefillInputs = {q.view(), k.view(), v.view(),
                                                zero.view()};
    std::vector<attn_tensor_t> prefillOutputs = {out.view(),
                                                 states.back().view()};
    invoke(prefill, prefillInputs, prefillOutputs);
    std::vector<attn_tensor_t> cacheInputs = {qt.view(), k.view(), v.view()};
    std::vector<attn_tensor_t> cacheOutputs = {ot.view()};
    softmaxTime[s] = timeMedian([&] {
                       return invoke(softmax, cacheInputs, cacheOutputs);
                     }).seconds;
  }
  // Each timed run is 100 steps (a step takes microseconds).
  std::map<int64_t, std::vector<double>> runs;
  for (unsigned round = 0; round < std::max(5u, unsigned(repeats)); ++round)
    for (size_t c = 0; c < contexts.size(); ++c) {
      std::vector<attn_tensor_t> stepInputs = {qt.view(), kt.view(), vt.view(),
                                               states[c].view()};
      std::vector<attn_tensor_t> stepOutputs = {ot.view(), next.view()};
      invoke(step, stepInputs, stepOutputs);
      auto begin = Clock::now();
      for (int i = 0; i < 100; ++i)
        invoke(step, stepInputs, stepOutputs);
      runs[contexts[c]].push_back(seconds(begin) / 100);
    }
  std::map<int64_t, double> stepTime;
  for (int64_t s : contexts) {
    std::vector<double> &times = runs[s];
    std::sort(times.begin(), times.end());
    stepTime[s] = times[times.size() / 2];
    llvm::outs() << "| " << s << " | "
                 << llvm::format("%.4f", stepTime[s] * 1e3) << " | "
                 << llvm::format("%.3f", softmaxTime[s] * 1e3) << " |\n";
    if (json)
      *json << "{\"linear_decode\": true, \"context\": " << s
            << ", \"step_ms\": " << llvm::format("%.4f", stepTime[s] * 1e3)
            << ", \"softmax_decode_ms\": "
            << llvm::format("%.4f", softmaxTime[s] * 1e3) << "}\n";
  }
  double flatness = stepTime[32768] / stepTime[1024];
  llvm::outs() << "\nlinear step at 32k / at 1k: "
               << llvm::format("%.2f", flatness) << "x\n";
  if (json)
    *json << "{\"linear_decode_32k_over_1k\": "
          << llvm::format("%.3f", flatness) << "}\n";
  return 0;
}

} // namespace

/// --layers: the self-attention layer of example 02 (heads of 64, no
/// mask) compiled whole, against what a user could compose in the same run:
/// OpenBLAS sgemm for the projections (q, k and v as one product with the
/// weights side by side, then the output projection) around attn's own
/// flash attention, with the head split and merge as copies on all cores.
/// attn's projections are timed as the layer minus its attention (compiled
/// alone, same shapes).
int runLayerBenchmark(double peak, llvm::raw_fd_ostream *json) {
  struct Shape {
    int64_t batch, tokens, model;
  };
  const int64_t d = 64;
  auto context = mlir::attn::createCompilerContext();
  llvm::outs() << "| x | what | time ms | GFLOP/s | % of peak | vs composed "
                  "|\n|---|---|---|---|---|---|\n";
  for (Shape shape : {Shape{2, 256, 512}, Shape{8, 512, 1024}}) {
    int64_t b = shape.batch, t = shape.tokens, e = shape.model, h = e / d;
    int64_t m = b * t;
    std::string act = "tensor<?x?x" + std::to_string(e) + "xf32>",
                w = "tensor<" + std::to_string(e) + "x" + std::to_string(e) +
                    "xf32>",
                hs = "tensor<?x" + std::to_string(h) + "x?x64xf32>";
    std::string layerText =
        "func.func @attention(%x: " + act + ", %wq: " + w + ", %wk: " + w +
        ", %wv: " + w + ", %wo: " + w + ") -> " + act +
        " {\n  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(" +
        std::to_string(h) + ") kv_heads(" + std::to_string(h) + ") : (" +
        act + ", " + w + ", " + w + ", " + w + ", " + w + ") -> " + act +
        "\n  return %y : " + act + "\n}\n";
    std::string attentionText =
        "func.func @attention(%q: " + hs + ", %k: " + hs + ", %v: " + hs +
        ") -> " + hs + " {\n  %o = attn.attention %q, %k, %v : (" + hs +
        ", " + hs + ", " + hs + ") -> " + hs + "\n  return %o : " + hs +
        "\n}\n";
    ::attn::Module layerModule, attentionModule;
    ::attn::Function layer = compile(*context, layerModule, layerText, "flash");
    ::attn::Function attention =
        compile(*context, attentionModule, attentionText, "flash");

    HostTensor x = randomTensor({b, t, e}, 1), wq = randomTensor({e, e}, 2),
               wk = randomTensor({e, e}, 3), wv = randomTensor({e, e}, 4),
               wo = randomTensor({e, e}, 5);
    HostTensor y(ATTN_DTYPE_F32, {b, t, e}), yComposed(ATTN_DTYPE_F32, {b, t, e});
    HostTensor q(ATTN_DTYPE_F32, {b, h, t, d}), k(ATTN_DTYPE_F32, {b, h, t, d}),
        v(ATTN_DTYPE_F32, {b, h, t, d}), o(ATTN_DTYPE_F32, {b, h, t, d});
    // [W_q | W_k | W_v]: (e, 3e), row f the rows f of the three.
    std::vector<float> wqkv(size_t(e) * 3 * e), qkv(size_t(m) * 3 * e),
        merged(size_t(m) * e);
    for (int64_t f = 0; f < e; ++f)
      for (auto [i, wi] : llvm::enumerate(std::array{&wq, &wk, &wv}))
        std::memcpy(&wqkv[(f * 3 + i) * e], wi->data<float>() + f * e,
                    e * sizeof(float));

    std::vector<attn_tensor_t> layerIn = {x.view(), wq.view(), wk.view(),
                                          wv.view(), wo.view()},
                               layerOut = {y.view()},
                               attIn = {q.view(), k.view(), v.view()},
                               attOut = {o.view()};
    auto projectQKV = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, 3 * e, e, 1.f,
                  x.data<float>(), e, wqkv.data(), 3 * e, 0.f, qkv.data(),
                  3 * e);
    };
    auto projectOut = [&](float *out) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, e, e, 1.f,
                  merged.data(), e, wo.data<float>(), e, 0.f, out, e);
    };
    auto composed = [&]() -> uint64_t {
      projectQKV();
      // Row r = (batch, token) of qkv into (batch, head, token) of q, k, v.
      parallelFor(m, [&](int64_t r) {
        int64_t bi = r / t, ti = r % t;
        for (auto [i, target] : llvm::enumerate(std::array{&q, &k, &v}))
          for (int64_t hi = 0; hi < h; ++hi)
            std::memcpy(target->data<float>() + ((bi * h + hi) * t + ti) * d,
                        &qkv[r * 3 * e + i * e + hi * d], d * sizeof(float));
      });
      uint64_t bytes = invoke(attention, attIn, attOut);
      parallelFor(m, [&](int64_t r) {
        int64_t bi = r / t, ti = r % t;
        for (int64_t hi = 0; hi < h; ++hi)
          std::memcpy(&merged[r * e + hi * d],
                      o.data<float>() + ((bi * h + hi) * t + ti) * d,
                      d * sizeof(float));
      });
      projectOut(yComposed.data<float>());
      return bytes;
    };
    // (Each measurement starts after a pause, see timeMedian: only the
    // composition pays for two pools.)
    Measurement composedTime = timeMedian(composed);
    Measurement layerTime =
        timeMedian([&] { return invoke(layer, layerIn, layerOut); });
    Measurement attentionTime =
        timeMedian([&] { return invoke(attention, attIn, attOut); });
    Measurement sgemmTime = timeMedian([&]() -> uint64_t {
      projectQKV();
      projectOut(yComposed.data<float>());
      return 0;
    });
    composed();
    // The layer against the composition: a sanity check, not the test.
    double worst = 0, largest = 0;
    for (int64_t i = 0; i < y.numElements(); ++i) {
      worst = std::max(worst, double(std::abs(y.data<float>()[i] -
                                              yComposed.data<float>()[i])));
      largest = std::max(largest, double(std::abs(yComposed.data<float>()[i])));
    }
    if (worst > 1e-4 * std::max(1.0, largest)) {
      llvm::errs() << "the layer and the composition differ by " << worst
                   << "\n";
      return 1;
    }

    double projectionFlops = 2.0 * m * e * 3 * e + 2.0 * m * e * e;
    double attentionFlops = 4.0 * d * h * b * t * t;
    Measurement projections{layerTime.seconds - attentionTime.seconds, 0};
    std::string name = std::to_string(b) + "x" + std::to_string(t) + "x" +
                       std::to_string(e);
    // Only whole layers are compared with the composition.
    auto row = [&](const char *what, const Measurement &time, double flops,
                   bool whole = false) {
      double gflops = flops / time.seconds * 1e-9;
      llvm::outs() << "| " << name << " | " << what << " | "
                   << millis(time.seconds) << " | "
                   << llvm::format("%.1f", gflops) << " | "
                   << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                   << (whole ? llvm::formatv("{0:F2}x", composedTime.seconds /
                                                            time.seconds)
                                   .str()
                             : std::string("-"))
                   << " |\n";
      llvm::outs().flush();
      if (json)
        *json << "{\"layer\": \"" << name << "\", \"what\": \"" << what
              << "\", \"time_ms\": "
              << llvm::format("%.3f", time.seconds * 1e3)
              << ", \"gflops\": " << llvm::format("%.2f", gflops)
              << ", \"peak_fraction\": " << llvm::format("%.3f", gflops / peak)
              << ", \"peak_bytes\": " << time.peakBytes
              << ", \"speedup_vs_composed\": "
              << llvm::format("%.3f", composedTime.seconds / time.seconds)
              << "}\n";
    };
    row("attn layer", layerTime, projectionFlops + attentionFlops, true);
    row("openblas projections + attn flash", composedTime,
        projectionFlops + attentionFlops, true);
    row("attn projections (layer - attention)", projections, projectionFlops);
    row("openblas sgemm projections", sgemmTime, projectionFlops);
    row("attn attention alone", attentionTime, attentionFlops);
    llvm::outs() << "| " << name
                 << " | attn projections' rate / sgemm's | - | - | "
                 << llvm::format("%.0f%%",
                                 100 * sgemmTime.seconds / projections.seconds)
                 << " | - |\n";
    if (json)
      *json << "{\"layer\": \"" << name
            << "\", \"projections_vs_sgemm_rate\": "
            << llvm::format("%.3f", sgemmTime.seconds / projections.seconds)
            << "}\n";
  }
  return 0;
}

int main(int argc, char **argv) {
  mlir::attn::tools::parseCommandLine(argc, argv, "attn CPU benchmark\n",
                                      {&benchCategory});
  std::vector<int64_t> ns(lengths.begin(), lengths.end());
  if (ns.empty())
    ns = {512, 1024, 2048, 4096, 8192, 16384};
  std::vector<int64_t> ds(headDims.begin(), headDims.end());
  if (ds.empty())
    ds = {64, 128};

  double peak = measureFmaPeak();
  double bf16DotPeak = measureBf16DotPeak();
  std::string machine = cpuName() + ", " + std::to_string(cores()) + " cores";
  llvm::outs() << "machine: " << machine
               << "\nFMA peak measured: " << llvm::format("%.1f", peak)
               << " GFLOP/s (" << fmaPeakISA() << " FMAs)\n";
  if (bf16DotPeak > 0)
    llvm::outs() << "bf16 dot peak measured: "
                 << llvm::format("%.1f", bf16DotPeak)
                 << " GFLOP/s (vdpbf16ps), "
                 << llvm::format("%.2f", bf16DotPeak / peak)
                 << "x the FMA peak\n";
  llvm::outs() << "compiler: clang " << __clang_version__
               << "\ncommand: " << command(argc, argv) << "\n\n";
  std::unique_ptr<llvm::raw_fd_ostream> json;
  if (!outputPath.empty()) {
    std::error_code ec;
    json = std::make_unique<llvm::raw_fd_ostream>(outputPath, ec);
    if (ec) {
      llvm::errs() << "cannot write " << outputPath << ": " << ec.message()
                   << "\n";
      return 1;
    }
    *json << "{\"machine\": \"" << machine
          << "\", \"fma_peak_gflops\": " << llvm::format("%.1f", peak)
          << ", \"fma_peak_isa\": \"" << fmaPeakISA() << "\""
          << ", \"bf16_dot_peak_gflops\": "
          << llvm::format("%.1f", bf16DotPeak)
          << ", \"compiler\": \"clang " << __clang_version__
          << "\", \"command\": \"" << command(argc, argv) << "\"}\n";
  }

  if (masks)
    return runMaskBenchmark(peak, json.get());
  if (decode)
    return runDecodeBenchmark(peak, json.get());
  if (linear)
    return runLinearBenchmark(peak, json.get());
  if (layers)
    return runLayerBenchmark(peak, json.get());
  if (bf16)
    return runBf16Benchmark(peak, json.get());
  if (backward)
    return runBackwardBenchmark(peak, json.get());
  if (scoreMods)
    return runScoreModBenchmark(peak, json.get());
  if (packed)
    return runPackedBenchmark(peak, json.get());

  llvm::outs() << "| D | mask | N | strategy | time ms | GFLOP/s | % of peak | "
                  "peak MiB | vs baseline |\n|---|---|---|---|---|---|---|---|"
                  "---|\n";
  auto context = mlir::attn::createCompilerContext();
  for (int64_t d : ds) {
    for (bool causal : {false, true}) {
      if ((causal && dense) || (!causal && causalOnly))
        continue;
      ::attn::Module flashModule, materializedModule;
      std::string text = moduleText(heads, d, causal);
      ::attn::Function flash = compile(*context, flashModule, text, "flash");
      ::attn::Function materialized =
          compile(*context, materializedModule, text, "materialized");
      // On an AVX-512 machine, the same flash compiled for AVX2 (8 lanes,
      // 16 registers): what the target's full width gains, in this run.
      ::attn::Module narrowModule;
      std::optional<::attn::Function> narrow;
      if (std::string(fmaPeakISA()) == "avx512f")
        narrow = compile(*context, narrowModule, text, "flash", "auto",
                         "-avx512f");
      for (int64_t n : ns) {
        std::vector<int64_t> shape = {1, heads, n, d};
        HostTensor q(ATTN_DTYPE_F32, shape), k(ATTN_DTYPE_F32, shape),
            v(ATTN_DTYPE_F32, shape), out(ATTN_DTYPE_F32, shape),
            reference(ATTN_DTYPE_F32, shape);
        ::attn::reference::fillRandom(q, 1, 0);
        ::attn::reference::fillRandom(k, 2, 0);
        ::attn::reference::fillRandom(v, 3, 0);
        std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view()};
        std::vector<attn_tensor_t> outputs = {out.view()};
        double pairs =
            causal ? double(heads) * n * (n + 1) / 2 : double(heads) * n * n;
        double flops = pairs * 4.0 * d;

        Measurement base = timeMedian(
            [&] { return uint64_t(baseline(q, k, v, reference, causal)); });
        Measurement flashTime =
            timeMedian([&] { return invoke(flash, inputs, outputs); });
        // Flash against the baseline: a sanity check, not the test.
        double worst = 0;
        for (int64_t i = 0; i < out.numElements(); ++i)
          worst = std::max(worst, double(std::abs(out.data<float>()[i] -
                                                  reference.data<float>()[i])));
        if (worst > 1e-3) {
          llvm::errs() << "flash and the baseline differ by " << worst << "\n";
          return 1;
        }
        Measurement narrowTime;
        if (narrow)
          narrowTime =
              timeMedian([&] { return invoke(*narrow, inputs, outputs); });
        Measurement mat;
        if (n <= materializedMaxN)
          mat =
              timeMedian([&] { return invoke(materialized, inputs, outputs); });

        auto row = [&](const char *name, const Measurement &m) {
          if (std::isnan(m.seconds))
            return;
          double gflops = flops / m.seconds * 1e-9;
          llvm::outs() << "| " << d << " | " << (causal ? "causal" : "none")
                       << " | " << n << " | " << name << " | "
                       << llvm::format("%.2f", m.seconds * 1e3) << " | "
                       << llvm::format("%.1f", gflops) << " | "
                       << llvm::format("%.0f%%", 100 * gflops / peak) << " | "
                       << llvm::format("%.2f", m.peakBytes / 1048576.0) << " | "
                       << llvm::format("%.2fx", base.seconds / m.seconds)
                       << " |\n";
          llvm::outs().flush();
          if (json)
            *json << "{\"d\": " << d
                  << ", \"causal\": " << (causal ? "true" : "false")
                  << ", \"n\": " << n << ", \"h\": " << heads
                  << ", \"strategy\": \"" << name << "\", \"time_ms\": "
                  << llvm::format("%.3f", m.seconds * 1e3)
                  << ", \"gflops\": " << llvm::format("%.2f", gflops)
                  << ", \"peak_fraction\": "
                  << llvm::format("%.3f", gflops / peak)
                  << ", \"peak_bytes\": " << m.peakBytes
                  << ", \"speedup_vs_baseline\": "
                  << llvm::format("%.3f", base.seconds / m.seconds) << "}\n";
        };
        row("flash", flashTime);
        row("flash-avx2", narrowTime);
        row("materialized", mat);
        row("openblas-unfused", base);
      }
    }
  }
  return 0;
}
