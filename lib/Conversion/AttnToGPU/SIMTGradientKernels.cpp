//===- SIMTGradientKernels.cpp - the flash backward on the FP32 cores -----===//
//
// A flash-marked attn.attention_grad as two kernels on the FP32 cores: the
// recurrences of FlashAttention-2's backward (Algorithm 2) over the
// forward's block schedule, deterministic by construction: every gradient
// element is written by one thread, which adds its terms in a fixed order
// (no atomics, the same bits on every run).
//
// Prepared once, as an ordinary loop nest (a kernel of its own): the row
// dots dd_i = dout_i . out_i (B, H, N) in f32. With c = scale log2(e),
// q'_i = c q_i (scaled when staged), lse2_i = lse_i log2(e) (+inf for a row
// that saw no key, lse = -inf, so that its p is 0), and visible(i, j) the
// mask and the key length:
//
//     p_ij  = visible(i, j) ? exp2(q'_i . k_j - lse2_i) : 0
//     ds_ij = visible(i, j) ? p_ij (dout_i . v_j - dd_i) : 0
//
// (exp(scale q.k - lse) is exactly the forward's softmax weight.)
//
// 1. The key kernel: grid (key tiles of T keys, K/V heads, B), T threads;
//    thread t owns key j = T x + t: k_j and v_j, and dk_j and dv_j, in
//    registers. For each query head of the K/V head's group, in order, and
//    each query tile whose block schedule visits j's key tile
//    (buildVisitedKeyTiles for the tile's rows and this kernel's tiles: the
//    mask's key ranges, which hold every key a row may see, so a pair of
//    tiles the mask hides is skipped), the block stages the tile's R rows of q' and
//    dout, lse2 and dd in shared memory (barriers around), and each thread
//    of a valid key walks the rows in order:
//        dv_j += p_ij dout_i,  dk_j += ds_ij q'_i.
//    dk_j = scale sum_i ds_ij q_i is then dk_j ln 2. The sum over a group's
//    query heads (GQA, MQA) is this loop: no second pass over the heads.
// 2. The query kernel: grid (query tiles of T rows, H, B), T threads;
//    thread t owns query i: q'_i, dout_i and dq_i in registers, lse2_i and
//    dd_i. Over the key tiles the forward's schedule visits for the block's
//    rows, in order, staged in shared memory like the forward kernel's:
//        dq_i += ds_ij k_j,  and dq_i = scale sum_j ds_ij k_j at the end.
//
// FlashAttention-2 adds dq from the key tiles' blocks with atomics, whose
// order varies from run to run; here the query kernel computes s and dp
// again instead (seven products per pair, not five), the price of
// reproducible gradients. Keys past a row's key length, rows past N, keys
// past S: p and ds are selected to 0, not multiplied, and the staged K/V
// tiles hold zeros there, not the padding (which may be NaN: 0 NaN is not
// 0); a key past the valid ones gets dk = dv = 0. Memory: the
// gradients, dd, and O(tile) per block; no N x S buffer.
//
//===----------------------------------------------------------------------===//

#include "GPUKernel.h"

#include "attn/Conversion/AttnToGPU/Passes.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernel;

namespace {

constexpr double kLn2 = 0.6931471805599453;

/// The operands as buffers and what the kernels write.
struct GradFrame {
  mutable AttentionGradOp op;
  int64_t headDim = 0, valueDim = 0, group = 1;
  double log2Scale = 0;
  Value q, k, v, dout, lse, rowDots, keyLengths;
  Value batch, numQueries, numKeys;
  Value dq, dk, dv;
};

/// sum_d x[d] y[d] over `width` elements read by `load` (unrolled).
Value dot(OpBuilder &b, Location loc, int64_t width,
          function_ref<std::pair<Value, Value>(OpBuilder &, Location, Value)>
              load) {
  IndexBuilder ib(b, loc);
  auto loop = unrollLater(scf::ForOp::create(
      b, loc, ib.c(0), ib.c(width), ib.c(1),
      ValueRange{f32Constant(b, loc, 0)},
      [&](OpBuilder &nb, Location l, Value d, ValueRange partial) {
        auto [x, y] = load(nb, l, d);
        scf::YieldOp::create(nb, l,
                             math::FmaOp::create(nb, l, x, y, partial[0])
                                 .getResult());
      }));
  return loop.getResult(0);
}

/// acc[d] += factor x[d] for d < width, x read by `load` (unrolled).
void accumulate(OpBuilder &b, Location loc, Value acc, Value factor,
                function_ref<Value(OpBuilder &, Location, Value)> load) {
  IndexBuilder ib(b, loc);
  int64_t width = cast<MemRefType>(acc.getType()).getDimSize(0);
  unrollLater(forEach(b, loc, ib.c(0), ib.c(width), ib.c(1),
                      [&](OpBuilder &nb, Location l, Value d) {
                        Value a = memref::LoadOp::create(nb, l, acc, d);
                        memref::StoreOp::create(
                            nb, l,
                            math::FmaOp::create(nb, l, factor,
                                                load(nb, l, d), a),
                            acc, d);
                      }));
}

/// p and ds of one (row, key) pair from the scaled score s (log2 domain),
/// dp = dout_i . v_j, and the row's lse2 and dd. With a score modifier f
/// (the op's, the score at `at`), s becomes log2(e) f(s) and ds gains the
/// factor f'(s).
std::pair<Value, Value> pairGradient(OpBuilder &b, Location loc, Value visible,
                                     Value s, Value dp, Value lse2, Value dd,
                                     ScoreModAttrInterface mod,
                                     const ScorePosition &at) {
  Value zero = f32Constant(b, loc, 0);
  Value slope;
  if (mod) {
    s = mod.buildModifiedScore(b, loc, s, kLog2E, at);
    slope = mod.buildDerivative(b, loc, s, kLog2E, at);
  }
  Value p = arith::SelectOp::create(
      b, loc, visible,
      math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, s, lse2)),
      zero);
  Value grad =
      arith::MulFOp::create(b, loc, p, arith::SubFOp::create(b, loc, dp, dd));
  if (slope)
    grad = arith::MulFOp::create(b, loc, grad, slope);
  return {p, arith::SelectOp::create(b, loc, visible, grad, zero)};
}

class SIMTGradientKernels : public OpRewritePattern<AttentionGradOp> {
public:
  SIMTGradientKernels(MLIRContext *ctx, int64_t threads, int64_t tile)
      : OpRewritePattern(ctx), threads(threads), tile(tile) {}

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    auto vType = cast<RankedTensorType>(op.getValue().getType());
    int64_t headDim = qType.getDimSize(3), valueDim = vType.getDimSize(3);
    // (The verifier holds the head dimensions static.) A thread of the key kernel holds k, v, dk and dv in registers.
    if (headDim > kMaxHeadDim || valueDim > kMaxHeadDim)
      return op.emitOpError("the GPU kernels take head widths up to ")
             << kMaxHeadDim << ", not D = " << headDim
             << " and Dv = " << valueDim << "; the CPU takes any width";

    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    GradFrame frame;
    frame.op = op;
    frame.headDim = headDim;
    frame.valueDim = valueDim;
    frame.group = op.getNumHeads() / op.getNumKVHeads();
    frame.log2Scale = op.getScaleOrDefault() * kLog2E;
    auto buffer = [&](Value tensor) {
      return operandBuffer(rewriter, loc, tensor, OperandLayout::AnyStrides);
    };
    frame.q = buffer(op.getQuery());
    frame.k = buffer(op.getKey());
    frame.v = buffer(op.getValue());
    frame.dout = buffer(op.getOutputGrad());
    frame.lse = buffer(op.getLse());
    frame.rowDots = buffer(buildRowDots(rewriter, loc, op));
    if (Value keyLengths = op.getKeyLengths())
      frame.keyLengths = buffer(keyLengths);
    frame.batch = ib.dim(frame.q, 0);
    frame.numQueries = ib.dim(frame.q, 2);
    frame.numKeys = ib.dim(frame.k, 2);
    auto allocate = [&](Value result, Value rows) -> Value {
      auto type = cast<RankedTensorType>(result.getType());
      SmallVector<Value> sizes;
      if (type.isDynamicDim(0))
        sizes.push_back(frame.batch);
      if (type.isDynamicDim(2))
        sizes.push_back(rows);
      return memref::AllocOp::create(
          rewriter, loc,
          MemRefType::get(type.getShape(), type.getElementType()), sizes);
    };
    frame.dq = allocate(op.getQueryGrad(), frame.numQueries);
    frame.dk = allocate(op.getKeyGrad(), frame.numKeys);
    frame.dv = allocate(op.getValueGrad(), frame.numKeys);

    buildKeyKernel(rewriter, loc, frame);
    buildQueryKernel(rewriter, loc, frame);

    SmallVector<Value> results;
    for (Value grad : {frame.dq, frame.dk, frame.dv}) {
      auto type = cast<MemRefType>(grad.getType());
      results.push_back(bufferization::ToTensorOp::create(
          rewriter, loc,
          RankedTensorType::get(type.getShape(), type.getElementType()), grad,
          /*restrict=*/true, /*writable=*/true));
    }
    rewriter.replaceOp(op, results);
    return success();
  }

private:
  /// dd = rowsum(dout * out) in f32, (B, H, N).
  static Value buildRowDots(OpBuilder &b, Location loc, AttentionGradOp op) {
    GenericBuilder gb(b, loc);
    Value dout = op.getOutputGrad();
    SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, dout, 0),
                                       tensor::getMixedSize(b, loc, dout, 1),
                                       tensor::getMixedSize(b, loc, dout, 2)};
    return gb.generic({dout, op.getOutput()},
                      gb.tensor(sizes, b.getF32Type(), 0.0),
                      {gb.map(4, {0, 1, 2, 3}), gb.map(4, {0, 1, 2, 3}),
                       gb.map(4, {0, 1, 2})},
                      {kPar, kPar, kPar, kRed}, multiplyAdd);
  }

  /// The valid keys of batch row `batch`: clamp(len, 0, S).
  static Value validKeysOf(OpBuilder &b, Location loc, const GradFrame &frame,
                           Value batch) {
    if (!frame.keyLengths)
      return frame.numKeys;
    Value len = memref::LoadOp::create(b, loc, frame.keyLengths, batch);
    return buildValidKeys(b, loc, len, frame.numKeys);
  }

  /// The largest tile of rows of widths `widths` (f32 each) whose staged
  /// copies fit the static shared memory, at most `tile`.
  int64_t stagedRows(int64_t widths) const {
    return std::min(tile, kStaticSharedMemoryBytes / (4 * widths));
  }

  /// `value` (f32) stored into `into` at `at` in its element type.
  static void storeAs(OpBuilder &b, Location loc, Value value, Value into,
                      ValueRange at) {
    Type type = cast<MemRefType>(into.getType()).getElementType();
    if (!type.isF32())
      value = arith::TruncFOp::create(b, loc, type, value);
    memref::StoreOp::create(b, loc, value, into, at);
  }

  /// A launch of `threads` threads per block on the grid (x, y, z), with
  /// these shared and private f32 buffers; the builder is left in its body.
  gpu::LaunchOp launchBlocks(OpBuilder &b, Location loc, Value x, Value y,
                             Value z,
                             ArrayRef<SmallVector<int64_t, 2>> sharedShapes,
                             ArrayRef<int64_t> privateSizes) const {
    IndexBuilder ib(b, loc);
    MLIRContext *ctx = b.getContext();
    SmallVector<Type> shared, local;
    for (ArrayRef<int64_t> shape : sharedShapes)
      shared.push_back(MemRefType::get(
          shape, Float32Type::get(ctx), MemRefLayoutAttrInterface{},
          gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup)));
    for (int64_t size : privateSizes)
      local.push_back(MemRefType::get(
          {size}, Float32Type::get(ctx), MemRefLayoutAttrInterface{},
          gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Private)));
    auto launch = gpu::LaunchOp::create(
        b, loc, x, y, z, ib.c(threads), ib.c(1), ib.c(1),
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/{}, shared, local);
    b.setInsertionPointToStart(&launch.getBody().front());
    return launch;
  }

  /// Row `at` (batch, head, row) of `source` into the private `into`, in
  /// f32 times `factor` (unrolled).
  static void loadPrivateRow(OpBuilder &b, Location loc, Value source,
                             ArrayRef<Value> at, Value into,
                             std::optional<double> factor = std::nullopt) {
    IndexBuilder ib(b, loc);
    int64_t width = cast<MemRefType>(into.getType()).getDimSize(0);
    unrollLater(forEach(
        b, loc, ib.c(0), ib.c(width), ib.c(1),
        [&](OpBuilder &nb, Location l, Value e) {
          SmallVector<Value> indices(at);
          indices.push_back(e);
          Value x = gpu_kernel::toF32(
              nb, l, memref::LoadOp::create(nb, l, source, indices));
          if (factor)
            x = arith::MulFOp::create(nb, l, x, f32Constant(nb, l, *factor));
          memref::StoreOp::create(nb, l, x, into, e);
        }));
  }

  /// The private `into` filled with 0 (unrolled).
  static void zeroPrivate(OpBuilder &b, Location loc, Value into) {
    IndexBuilder ib(b, loc);
    int64_t width = cast<MemRefType>(into.getType()).getDimSize(0);
    Value zero = f32Constant(b, loc, 0);
    unrollLater(forEach(b, loc, ib.c(0), ib.c(width), ib.c(1),
                        [&](OpBuilder &nb, Location l, Value e) {
                          memref::StoreOp::create(nb, l, zero, into, e);
                        }));
  }

  /// Kernel 1: dk and dv, a thread per key (see the file header).
  void buildKeyKernel(OpBuilder &b, Location loc,
                      const GradFrame &frame) const {
    IndexBuilder ib(b, loc);
    AttentionGradOp op = frame.op;
    int64_t d = frame.headDim, dv = frame.valueDim;
    // R rows of q' and dout, and their lse2 and dd.
    int64_t rows = stagedRows(d + dv + 2);
    OpBuilder::InsertionGuard guard(b);
    auto launch = launchBlocks(
        b, loc, ib.ceilDiv(frame.numKeys, ib.c(threads)),
        ib.c(op.getNumKVHeads()), frame.batch, {{rows, d}, {rows, dv}, {2, rows}},
        {d, dv, d, dv});
    Value queryTile = launch.getWorkgroupAttributions()[0];
    Value gradTile = launch.getWorkgroupAttributions()[1];
    Value rowStats = launch.getWorkgroupAttributions()[2];
    Value key = launch.getPrivateAttributions()[0];
    Value value = launch.getPrivateAttributions()[1];
    Value keyGrad = launch.getPrivateAttributions()[2];
    Value valueGrad = launch.getPrivateAttributions()[3];

    Value thread = launch.getThreadIds().x;
    Value keyTileIndex = launch.getBlockIds().x;
    Value kvHead = launch.getBlockIds().y, batch = launch.getBlockIds().z;
    Value zero = ib.c(0), one = ib.c(1);
    Value colStart = ib.mul(keyTileIndex, ib.c(threads));
    Value col = ib.add(colStart, thread);
    Value validKeys = validKeysOf(b, loc, frame, batch);
    Value keyIsValid = ib.lt(col, validKeys);

    // This thread's key and value rows (f32), its gradients 0.
    ifThen(b, loc, keyIsValid, [&](OpBuilder &b, Location loc) {
      loadPrivateRow(b, loc, frame.k, {batch, kvHead, col}, key);
      loadPrivateRow(b, loc, frame.v, {batch, kvHead, col}, value);
    });
    zeroPrivate(b, loc, keyGrad);
    zeroPrivate(b, loc, valueGrad);

    auto mask = op.getEffectiveMask();
    Value numQueryTiles = ib.ceilDiv(frame.numQueries, ib.c(rows));
    forEach(b, loc, zero, ib.c(frame.group), one,
            [&](OpBuilder &b, Location loc, Value member) {
      IndexBuilder ib(b, loc);
      Value head = ib.add(ib.mul(kvHead, ib.c(frame.group)), member);
      forEach(b, loc, zero, numQueryTiles, one,
              [&](OpBuilder &b, Location loc, Value queryTileIndex) {
        IndexBuilder ib(b, loc);
        Value rowBegin = ib.mul(queryTileIndex, ib.c(rows));
        Value rowEnd = ib.min(ib.add(rowBegin, ib.c(rows)), frame.numQueries);
        // The forward's schedule for these rows (key tiles of T keys)
        // visits this key tile: uniform over the block, so the barriers
        // below are reached by all its threads or none.
        Value visits = ib.truth(false);
        for (auto [first, last] :
             buildVisitedKeyTiles(b, loc, mask, rowBegin, rowEnd,
                                  frame.numQueries, validKeys, head, threads))
          visits = ib.either(visits, ib.both(ib.le(first, keyTileIndex),
                                             ib.lt(keyTileIndex, last)));
        ifThen(b, loc, visits, [&](OpBuilder &b, Location loc) {
          IndexBuilder ib(b, loc);
          gpu::BarrierOp::create(b, loc);
          stageRows(b, loc, frame.q, batch, head, rowBegin, frame.numQueries,
                    queryTile, thread, threads, frame.log2Scale);
          stageRows(b, loc, frame.dout, batch, head, rowBegin,
                    frame.numQueries, gradTile, thread, threads);
          forEach(b, loc, thread, ib.sub(rowEnd, rowBegin), ib.c(threads),
                  [&](OpBuilder &b, Location loc, Value r) {
                    Value row = IndexBuilder(b, loc).add(rowBegin, r);
                    SmallVector<Value> at = {batch, head, row};
                    Value lse = memref::LoadOp::create(b, loc, frame.lse, at);
                    memref::StoreOp::create(b, loc, lseInLog2Domain(b, loc, lse),
                                            rowStats, ValueRange{zero, r});
                    Value dd =
                        memref::LoadOp::create(b, loc, frame.rowDots, at);
                    memref::StoreOp::create(b, loc, dd, rowStats,
                                            ValueRange{one, r});
                  });
          gpu::BarrierOp::create(b, loc);
          Value full = buildKeyTileIsFull(b, loc, mask, rowBegin, rowEnd,
                                          colStart, threads, frame.numQueries,
                                          validKeys, head);
          ifThen(b, loc, keyIsValid, [&](OpBuilder &b, Location loc) {
            IndexBuilder ib(b, loc);
            forEach(b, loc, zero, ib.sub(rowEnd, rowBegin), one,
                    [&](OpBuilder &b, Location loc, Value r) {
              Value row = IndexBuilder(b, loc).add(rowBegin, r);
              Value s = dot(b, loc, d, [&](OpBuilder &nb, Location l, Value e) {
                return std::pair{
                    memref::LoadOp::create(nb, l, queryTile,
                                           ValueRange{r, e}).getResult(),
                    memref::LoadOp::create(nb, l, key, e).getResult()};
              });
              Value dp =
                  dot(b, loc, dv, [&](OpBuilder &nb, Location l, Value e) {
                    return std::pair{
                        memref::LoadOp::create(nb, l, gradTile,
                                               ValueRange{r, e}).getResult(),
                        memref::LoadOp::create(nb, l, value, e).getResult()};
                  });
              Value visible = arith::OrIOp::create(
                  b, loc, full,
                  buildKeyIsVisible(b, loc, mask, row, col, frame.numQueries,
                                    validKeys, head));
              auto [p, ds] = pairGradient(
                  b, loc, visible, s, dp,
                  memref::LoadOp::create(b, loc, rowStats,
                                         ValueRange{zero, r}),
                  memref::LoadOp::create(b, loc, rowStats,
                                         ValueRange{one, r}),
                  op.getScoreModAttr(),
                  {row, col, frame.numQueries, validKeys, head,
                   op.getNumHeads()});
              accumulate(b, loc, valueGrad, p,
                         [&](OpBuilder &nb, Location l, Value e) -> Value {
                           return memref::LoadOp::create(nb, l, gradTile,
                                                         ValueRange{r, e});
                         });
              accumulate(b, loc, keyGrad, ds,
                         [&](OpBuilder &nb, Location l, Value e) -> Value {
                           return memref::LoadOp::create(nb, l, queryTile,
                                                         ValueRange{r, e});
                         });
            });
          });
        });
      });
    });

    // dk = ln 2 sum ds q' (q' = scale log2(e) q); 0 for keys past the valid
    // ones (never accumulated), nothing past S.
    ifThen(b, loc, ib.lt(col, frame.numKeys), [&](OpBuilder &b, Location loc) {
      auto store = [&](Value acc, Value into, Value factor) {
        int64_t width = cast<MemRefType>(acc.getType()).getDimSize(0);
        unrollLater(forEach(b, loc, zero, IndexBuilder(b, loc).c(width), one,
                            [&](OpBuilder &nb, Location l, Value e) {
                              Value x = memref::LoadOp::create(nb, l, acc, e);
                              if (factor)
                                x = arith::MulFOp::create(nb, l, x, factor);
                              storeAs(nb, l, x, into,
                                      ValueRange{batch, kvHead, col, e});
                            }));
      };
      store(keyGrad, frame.dk, f32Constant(b, loc, kLn2));
      store(valueGrad, frame.dv, Value());
    });
    gpu::TerminatorOp::create(b, loc);
  }

  /// Kernel 2: dq, a thread per query row (see the file header).
  void buildQueryKernel(OpBuilder &b, Location loc,
                        const GradFrame &frame) const {
    IndexBuilder ib(b, loc);
    AttentionGradOp op = frame.op;
    int64_t d = frame.headDim, dv = frame.valueDim;
    int64_t keys = stagedRows(d + dv);
    OpBuilder::InsertionGuard guard(b);
    auto launch = launchBlocks(
        b, loc, ib.ceilDiv(frame.numQueries, ib.c(threads)),
        ib.c(op.getNumHeads()), frame.batch, {{keys, d}, {keys, dv}},
        {d, dv, d});
    Value keyTile = launch.getWorkgroupAttributions()[0];
    Value valueTile = launch.getWorkgroupAttributions()[1];
    Value query = launch.getPrivateAttributions()[0];
    Value grad = launch.getPrivateAttributions()[1];
    Value queryGrad = launch.getPrivateAttributions()[2];

    Value thread = launch.getThreadIds().x;
    Value head = launch.getBlockIds().y, batch = launch.getBlockIds().z;
    Value kvHead = ib.div(head, ib.c(frame.group));
    Value zero = ib.c(0), one = ib.c(1);
    Value zeroF = f32Constant(b, loc, 0);
    Value rowBegin = ib.mul(launch.getBlockIds().x, ib.c(threads));
    Value rowEnd = ib.min(ib.add(rowBegin, ib.c(threads)), frame.numQueries);
    Value row = ib.add(rowBegin, thread);
    Value rowExists = ib.lt(row, frame.numQueries);
    Value validKeys = validKeysOf(b, loc, frame, batch);

    // This thread's q' and dout rows, its lse2 and dd; dq 0.
    SmallVector<Value> rowAt = {batch, head, row};
    auto lse2 = scf::IfOp::create(b, loc, TypeRange{b.getF32Type(),
                                                     b.getF32Type()},
                                  rowExists, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(lse2.thenBlock());
      loadPrivateRow(b, loc, frame.q, rowAt, query, frame.log2Scale);
      loadPrivateRow(b, loc, frame.dout, rowAt, grad);
      scf::YieldOp::create(
          b, loc,
          ValueRange{lseInLog2Domain(b, loc,
                                memref::LoadOp::create(b, loc, frame.lse,
                                                       rowAt)),
                     memref::LoadOp::create(b, loc, frame.rowDots, rowAt)});
      b.setInsertionPointToStart(lse2.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{zeroF, zeroF});
    }
    zeroPrivate(b, loc, queryGrad);

    auto mask = op.getEffectiveMask();
    buildKeyTileLoops(
        b, loc,
        buildVisitedKeyTiles(b, loc, mask, rowBegin, rowEnd, frame.numQueries,
                             validKeys, head, keys),
        ValueRange{},
        [&](OpBuilder &b, Location loc, Value keyTileIndex,
            ValueRange) -> SmallVector<Value> {
          IndexBuilder ib(b, loc);
          Value colStart = ib.mul(keyTileIndex, ib.c(keys));
          gpu::BarrierOp::create(b, loc);
          // Zeros past the valid keys, not what the padding holds: ds is 0
          // there, but 0 * NaN in dq += ds k would not be.
          stageRows(b, loc, frame.k, batch, kvHead, colStart, validKeys,
                    keyTile, thread, threads);
          stageRows(b, loc, frame.v, batch, kvHead, colStart, validKeys,
                    valueTile, thread, threads);
          gpu::BarrierOp::create(b, loc);
          Value full = buildKeyTileIsFull(b, loc, mask, rowBegin, rowEnd,
                                          colStart, keys, frame.numQueries,
                                          validKeys, head);
          ifThen(b, loc, rowExists, [&](OpBuilder &b, Location loc) {
            forEach(b, loc, zero, ib.c(keys), one,
                    [&](OpBuilder &b, Location loc, Value j) {
              Value col = IndexBuilder(b, loc).add(colStart, j);
              Value s = dot(b, loc, d, [&](OpBuilder &nb, Location l, Value e) {
                return std::pair{
                    memref::LoadOp::create(nb, l, query, e).getResult(),
                    memref::LoadOp::create(nb, l, keyTile, ValueRange{j, e})
                        .getResult()};
              });
              Value dp =
                  dot(b, loc, dv, [&](OpBuilder &nb, Location l, Value e) {
                    return std::pair{
                        memref::LoadOp::create(nb, l, grad, e).getResult(),
                        memref::LoadOp::create(nb, l, valueTile,
                                               ValueRange{j, e})
                            .getResult()};
                  });
              Value visible = arith::OrIOp::create(
                  b, loc, full,
                  buildKeyIsVisible(b, loc, mask, row, col, frame.numQueries,
                                    validKeys, head));
              Value ds =
                  pairGradient(b, loc, visible, s, dp, lse2.getResult(0),
                               lse2.getResult(1), op.getScoreModAttr(),
                               {row, col, frame.numQueries, validKeys, head,
                                op.getNumHeads()})
                      .second;
              accumulate(b, loc, queryGrad, ds,
                         [&](OpBuilder &nb, Location l, Value e) -> Value {
                           return memref::LoadOp::create(nb, l, keyTile,
                                                         ValueRange{j, e});
                         });
            });
          });
          return {};
        });

    // dq = scale sum_j ds k_j.
    ifThen(b, loc, rowExists, [&](OpBuilder &b, Location loc) {
      Value scale = f32Constant(b, loc, op.getScaleOrDefault());
      unrollLater(forEach(b, loc, zero, ib.c(d), one,
                          [&](OpBuilder &nb, Location l, Value e) {
                            Value x = arith::MulFOp::create(
                                nb, l,
                                memref::LoadOp::create(nb, l, queryGrad, e),
                                scale);
                            storeAs(nb, l, x, frame.dq,
                                    ValueRange{batch, head, row, e});
                          }));
    });
    gpu::TerminatorOp::create(b, loc);
  }

  int64_t threads, tile;
};

} // namespace

void mlir::attn::populateSIMTGradientKernelPatterns(RewritePatternSet &patterns,
                                                    int64_t threads,
                                                    int64_t tile) {
  patterns.add<SIMTGradientKernels>(patterns.getContext(), threads, tile);
}
