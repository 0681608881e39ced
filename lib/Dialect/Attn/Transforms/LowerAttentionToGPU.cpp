//===- LowerAttentionToGPU.cpp - the flash strategy as a GPU kernel -------===//
//
// attn.attention as one gpu.launch that computes the online softmax of
// TileOnlineSoftmax.cpp (same recurrence, same log2 domain, same key ranges
// from the mask) with the work split of FlashAttention-2:
//
//   grid  = (ceil(N G / Tq), H / G, B): one thread block per (tile of packed
//           rows, K/V head, batch row); block = Tq threads. The G query heads
//           of a K/V head are packed query-major, row p = i G + g owning
//           query i of head h = hk G + g, and thread t owns row
//           p = tile * Tq + t: a block's rows are Tq / G consecutive queries
//           of all G heads, which read every K/V tile the block loads (the
//           sharing of MQA and GQA; for one decoding token, the whole group
//           is one block). A mask that differs between heads (the Sparse
//           Transformer's split) packs one head per block (G = 1 here).
//   shared memory: one K tile and one V tile (Tk x D and Tk x Dv, f32),
//           loaded by all threads of the block together (consecutive threads
//           read consecutive elements of a key row: coalesced), so each key
//           is read from global memory once per block, not once per row.
//   registers / private memory: the row's scaled q (D), its accumulator
//           (Dv), the Tk scores of the current tile, and m, l.
//
// Per key tile [c, c + Tk) a thread computes s_j = q . k_j for the tile
// (every thread reads the same k_j: a shared-memory broadcast), masks the
// keys the mask or the key length hides, and updates
//
//   m' = max(m, max_j s_j),  alpha = exp2(m - m'),  p_j = exp2(s_j - m'),
//   l' = alpha l + sum_j p_j,  acc' = alpha acc + sum_j p_j v_j,
//
// then writes acc / l (0 for a row that saw no key). The block visits only
// the key tiles that meet the key range the mask gives its rows, so a causal
// mask skips the tiles above the diagonal. K/V heads are indexed, never
// copied: query head h reads K/V head h / (H / Hkv).
//
// Decode (attn-select-strategy's decode: the g·N rows of a group fit one
// block) runs the same kernel with split-K: the grid's x dimension is the
// chunk c of C, the block visits only its chunk's run of key tiles
// (cutToChunk), and writes its rows' unnormalized state (m, l, acc) instead
// of the result; the exact merge of TileDecode.cpp (mergeSplitKPartials)
// follows as ordinary loops, which attn-gpu-map-loops turns into kernels.
// A step is otherwise only B Hkv blocks, a few percent of a GPU's
// multiprocessors at batch 1; C = max(1, min(ceil(4 SMs / (B Hkv)), S / 512))
// unless split-k sets it.
//
// The kernel reads its operands through memrefs of any strides and writes a
// fresh buffer; the tensors around it are bridged with to_buffer/to_tensor,
// so bufferization and the rest of the pipeline see an ordinary buffer
// producer.
//
//===----------------------------------------------------------------------===//

#include "SoftmaxTile.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERATTENTIONTOGPUPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Static shared memory a block may use without opting in (48 KiB).
constexpr int64_t kSharedMemoryBytes = 48 * 1024;

/// Decode blocks wanted per multiprocessor when choosing split-K's chunk
/// count: a decode block has few busy threads and waits on memory most of
/// the time, so several per multiprocessor overlap their loads. (Not tuned
/// by measurement yet.)
constexpr int64_t kBlocksPerSM = 4;

/// A memref of `type`'s shape and element type with fully dynamic strides:
/// the kernel reads any layout bufferization gives its operands.
static MemRefType stridedBufferType(RankedTensorType type) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

static Value toF32(OpBuilder &b, Location loc, Value x) {
  if (x.getType().isF32())
    return x;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
}

/// Marks a loop over a head dimension to be unrolled once the kernel is
/// built: its private arrays are then indexed by constants, which LLVM keeps
/// in registers rather than local memory.
constexpr StringLiteral kUnrollAttr = "attn.unroll";
static scf::ForOp unrollLater(scf::ForOp loop) {
  loop->setAttr(kUnrollAttr, UnitAttr::get(loop.getContext()));
  return loop;
}

/// scf.for from `lb` to `ub` by `step` whose body needs no results.
static scf::ForOp
forEach(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
        function_ref<void(OpBuilder &, Location, Value)> body) {
  return scf::ForOp::create(
      b, loc, lb, ub, step, ValueRange{},
      [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
        body(nb, l, iv);
        scf::YieldOp::create(nb, l);
      });
}

class LowerAttentionToGPU : public OpRewritePattern<AttentionOp> {
public:
  LowerAttentionToGPU(MLIRContext *ctx, int64_t queryTile, int64_t keyTile,
                      int64_t chunks, int64_t multiprocessors)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile),
        chunks(chunks), multiprocessors(multiprocessors) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    // An op without a mark is lowered as flash.
    bool decode = !isMarkedFor(op, kFlashStrategy);
    if (decode && !isMarkedFor(op, kDecodeStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    if (decode && !isDecodeShaped(op, queryTile))
      return op.emitOpError("the decode kernel needs a static N whose g·N "
                            "rows fit one block of query-tile = ")
             << queryTile << " threads, and a mask that treats all heads alike";
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    auto vType = cast<RankedTensorType>(op.getValue().getType());
    int64_t headDim = qType.getDimSize(3), valueDim = vType.getDimSize(3);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return op.emitOpError("the GPU kernel needs static head dimensions");
    // The K and V tiles must fit the block's shared memory.
    int64_t tile =
        std::min(keyTile, kSharedMemoryBytes / (4 * (headDim + valueDim)));
    if (tile < 1)
      return op.emitOpError("head dimensions ")
             << headDim << " and " << valueDim
             << " leave no room for a key tile in shared memory";

    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    Kernel kernel{op, headDim, valueDim, tile};
    kernel.q = bufferization::ToBufferOp::create(
        rewriter, loc, stridedBufferType(qType), op.getQuery(), true);
    kernel.k = bufferization::ToBufferOp::create(
        rewriter, loc,
        stridedBufferType(cast<RankedTensorType>(op.getKey().getType())),
        op.getKey(), true);
    kernel.v = bufferization::ToBufferOp::create(
        rewriter, loc, stridedBufferType(vType), op.getValue(), true);
    if (Value keyLengths = op.getKeyLengths())
      kernel.keyLengths = bufferization::ToBufferOp::create(
          rewriter, loc,
          stridedBufferType(cast<RankedTensorType>(keyLengths.getType())),
          keyLengths, true);
    Value batch = ib.dim(kernel.q, 0), numQueries = ib.dim(kernel.q, 2);
    kernel.pack = packedHeads(op);
    // Blocks along x: tiles of packed rows, or for decode (whose rows are
    // one block) the chunks of split-K.
    Value blocksX =
        ib.ceilDiv(ib.mul(numQueries, ib.c(kernel.pack)), ib.c(queryTile));
    if (decode) {
      // Enough blocks to keep every multiprocessor busy, unless set.
      blocksX =
          chunks > 0
              ? ib.c(chunks)
              : buildChunkCount(rewriter, loc, multiprocessors * kBlocksPerSM,
                                ib.mul(batch, ib.c(op.getNumKVHeads())),
                                ib.dim(kernel.k, 2));
      allocatePartials(rewriter, loc, kernel, batch, blocksX);
    } else {
      allocateResults(rewriter, loc, kernel, batch, numQueries);
    }

    MLIRContext *ctx = rewriter.getContext();
    auto workgroup =
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    auto privateSpace =
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Private);
    Type f32 = rewriter.getF32Type();
    auto shared = [&](int64_t width) {
      return MemRefType::get({tile, width}, f32, MemRefLayoutAttrInterface{},
                             workgroup);
    };
    auto local = [&](int64_t size) {
      return MemRefType::get({size}, f32, MemRefLayoutAttrInterface{},
                             privateSpace);
    };
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, blocksX, ib.c(op.getNumHeads() / kernel.pack), batch,
        ib.c(queryTile), ib.c(1), ib.c(1),
        /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
        /*asyncDependencies=*/{}, TypeRange{shared(headDim), shared(valueDim)},
        TypeRange{local(headDim), local(valueDim), local(tile)});
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      kernel.keyTile = launch.getWorkgroupAttributions()[0];
      kernel.valueTile = launch.getWorkgroupAttributions()[1];
      kernel.queryRow = launch.getPrivateAttributions()[0];
      kernel.acc = launch.getPrivateAttributions()[1];
      kernel.scores = launch.getPrivateAttributions()[2];
      buildBody(rewriter, loc, kernel, launch);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    auto asTensor = [&](Value buffer) -> Value {
      auto type = cast<MemRefType>(buffer.getType());
      return bufferization::ToTensorOp::create(
          rewriter, loc,
          RankedTensorType::get(type.getShape(), type.getElementType()), buffer,
          /*restrict=*/true, /*writable=*/true);
    };
    SmallVector<Value> results;
    if (decode) {
      auto [out, lse] =
          mergeSplitKPartials(rewriter, loc, op,
                              {asTensor(kernel.rowMax), asTensor(kernel.rowSum),
                               asTensor(kernel.partialAcc)});
      results = {out};
      if (op.getLse())
        results.push_back(lse);
    } else {
      results = {asTensor(kernel.out)};
      if (op.getLse())
        results.push_back(asTensor(kernel.lse));
    }
    rewriter.replaceOp(op, results);
    return success();
  }

private:
  /// How many query heads a block's rows span: all of a K/V head's, unless
  /// the mask tells heads apart (their rows would see different key tiles).
  static int64_t packedHeads(AttentionOp op) {
    return splitsHeads(op.getMaskAttr())
               ? 1
               : op.getNumHeads() / op.getNumKVHeads();
  }

  struct Kernel {
    AttentionOp op;
    int64_t headDim, valueDim, tile, pack = 1;
    Value q, k, v, keyLengths;
    // What the kernel writes: the result (out, lse), or for decode the
    // chunks' final states (rowMax, rowSum, partialAcc), shaped
    // (B, Hkv, C, g·N[, Dv]) with the group's rows head-major.
    Value out, lse, rowMax, rowSum, partialAcc;
    Value keyTile, valueTile, queryRow, acc, scores;
  };

  /// The result (B, H, N, Dv) and the lse (B, H, N); B and N may be dynamic.
  void allocateResults(OpBuilder &b, Location loc, Kernel &kn, Value batch,
                       Value numQueries) const {
    auto resultType = cast<RankedTensorType>(kn.op.getResult().getType());
    SmallVector<Value> dynamicSizes;
    if (resultType.isDynamicDim(0))
      dynamicSizes.push_back(batch);
    if (resultType.isDynamicDim(2))
      dynamicSizes.push_back(numQueries);
    kn.out = memref::AllocOp::create(
        b, loc,
        MemRefType::get(resultType.getShape(), resultType.getElementType()),
        dynamicSizes);
    if (Value lse = kn.op.getLse()) {
      auto lseType = cast<RankedTensorType>(lse.getType());
      kn.lse = memref::AllocOp::create(
          b, loc, MemRefType::get(lseType.getShape(), lseType.getElementType()),
          dynamicSizes);
    }
  }

  /// The chunks' states for mergeSplitKPartials (f32, N static).
  void allocatePartials(OpBuilder &b, Location loc, Kernel &kn, Value batch,
                        Value numChunks) const {
    int64_t rows =
        kn.op.getNumHeads() / kn.op.getNumKVHeads() *
        cast<RankedTensorType>(kn.op.getQuery().getType()).getDimSize(2);
    SmallVector<int64_t> shape = {ShapedType::kDynamic, kn.op.getNumKVHeads(),
                                  ShapedType::kDynamic, rows};
    Type f32 = b.getF32Type();
    kn.rowMax = memref::AllocOp::create(b, loc, MemRefType::get(shape, f32),
                                        ValueRange{batch, numChunks});
    kn.rowSum = memref::AllocOp::create(b, loc, MemRefType::get(shape, f32),
                                        ValueRange{batch, numChunks});
    shape.push_back(kn.valueDim);
    kn.partialAcc = memref::AllocOp::create(b, loc, MemRefType::get(shape, f32),
                                            ValueRange{batch, numChunks});
  }

  void buildBody(OpBuilder &b, Location loc, const Kernel &kn,
                 gpu::LaunchOp launch) const {
    IndexBuilder ib(b, loc);
    AttentionOp op = kn.op;
    Type f32 = b.getF32Type();
    // Decode: one tile of rows, and block x is the chunk.
    bool decode = static_cast<bool>(kn.rowMax);
    Value tileIndex = decode ? ib.c(0) : launch.getBlockIds().x;
    Value headGroup = launch.getBlockIds().y, batch = launch.getBlockIds().z;
    Value thread = launch.getThreadIds().x;
    Value numQueries = ib.dim(kn.q, 2), numKeys = ib.dim(kn.k, 2);
    // Packed row p = i G + g: query i of head headGroup * G + g.
    Value pack = ib.c(kn.pack);
    Value firstPacked = ib.mul(tileIndex, ib.c(queryTile));
    Value packed = ib.add(firstPacked, thread);
    Value row = ib.div(packed, pack);
    Value firstHead = ib.mul(headGroup, pack);
    Value head = ib.add(firstHead, ib.rem(packed, pack));
    Value kvHead =
        ib.div(firstHead, ib.c(op.getNumHeads() / op.getNumKVHeads()));
    // The block's queries: [p0 / G, ceil((p0 + Tq) / G)) within N.
    Value rowBegin = ib.div(firstPacked, pack);
    Value rowEnd = ib.min(
        ib.ceilDiv(ib.add(firstPacked, ib.c(queryTile)), pack), numQueries);
    Value rowExists = ib.lt(row, numQueries);

    // The valid keys of this batch row: clamp(len, 0, S).
    Value validKeys = numKeys;
    if (kn.keyLengths) {
      Value len = memref::LoadOp::create(b, loc, kn.keyLengths, batch);
      validKeys = buildValidKeys(b, loc, len, numKeys);
    }

    // This thread's query row, in f32 and scaled into the log2 domain.
    Value zero = ib.c(0), one = ib.c(1);
    Value headDim = ib.c(kn.headDim), valueDim = ib.c(kn.valueDim);
    Value log2Scale = f32Constant(b, loc, op.getScaleOrDefault() * kLog2E);
    Value zeroF = f32Constant(b, loc, 0);
    auto rowIf = scf::IfOp::create(b, loc, rowExists, /*withElse=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(rowIf.thenBlock());
      unrollLater(forEach(
          b, loc, zero, headDim, one, [&](OpBuilder &nb, Location l, Value d) {
            Value x = memref::LoadOp::create(nb, l, kn.q,
                                             ValueRange{batch, head, row, d});
            Value scaled =
                arith::MulFOp::create(nb, l, toF32(nb, l, x), log2Scale);
            memref::StoreOp::create(nb, l, scaled, kn.queryRow, d);
          }));
      unrollLater(forEach(b, loc, zero, valueDim, one,
                          [&](OpBuilder &nb, Location l, Value d) {
                            memref::StoreOp::create(nb, l, zeroF, kn.acc, d);
                          }));
    }

    // The key tiles the block's rows may see (uniform over the block, so
    // every thread takes part in every tile's loads and barriers).
    Value tileSize = ib.c(kn.tile);
    SmallVector<std::pair<Value, Value>> tileRanges =
        buildVisitedKeyTiles(b, loc, op.getEffectiveMask(), rowBegin, rowEnd,
                             numQueries, validKeys, firstHead, kn.tile);
    if (decode)
      tileRanges = cutToChunk(b, loc, tileRanges, launch.getBlockIds().x,
                              launch.getGridSize().x);

    Value negInf = f32Constant(b, loc, kNegInf);
    SmallVector<Value> final = buildKeyTileLoops(
        b, loc, tileRanges, ValueRange{negInf, zeroF},
        [&](OpBuilder &nb, Location l, Value keyTileIndex,
            ValueRange state) -> SmallVector<Value> {
          Value colStart = IndexBuilder(nb, l).mul(keyTileIndex, tileSize);
          loadKeyValueTiles(nb, l, kn, batch, kvHead, colStart, numKeys,
                            thread);
          auto update = scf::IfOp::create(nb, l, TypeRange{f32, f32}, rowExists,
                                          /*withElse=*/true);
          {
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPointToStart(update.thenBlock());
            TileStep step{row,       rowBegin, rowEnd,   colStart, numQueries,
                          validKeys, head,     state[0], state[1]};
            scf::YieldOp::create(nb, l, updateRow(nb, l, kn, step));
            nb.setInsertionPointToStart(update.elseBlock());
            scf::YieldOp::create(nb, l, state);
          }
          return SmallVector<Value>(update.getResults());
        });
    Value sum = final[1];
    if (decode) {
      storePartials(b, loc, kn, launch, rowExists,
                    ib.add(ib.mul(ib.sub(head, firstHead), numQueries), row),
                    final);
      return;
    }
    if (kn.lse) {
      auto lseIf = scf::IfOp::create(b, loc, rowExists, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(lseIf.thenBlock());
      memref::StoreOp::create(b, loc, logSumExpOf(b, loc, final[0], sum),
                              kn.lse, ValueRange{batch, head, row});
    }

    // out = l > 0 ? acc / l : 0.
    auto storeIf = scf::IfOp::create(b, loc, rowExists, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(storeIf.thenBlock());
    Type outType = cast<MemRefType>(kn.out.getType()).getElementType();
    Value any =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum, zeroF);
    unrollLater(forEach(
        b, loc, zero, valueDim, one, [&](OpBuilder &nb, Location l, Value d) {
          Value a = memref::LoadOp::create(nb, l, kn.acc, d);
          Value o = arith::SelectOp::create(
              nb, l, any, arith::DivFOp::create(nb, l, a, sum), zeroF);
          if (outType != f32)
            o = arith::TruncFOp::create(nb, l, outType, o);
          memref::StoreOp::create(nb, l, o, kn.out,
                                  ValueRange{batch, head, row, d});
        }));
  }

  /// A decode block's final state of its row, unnormalized: m and l at
  /// (b, K/V head, chunk, row), acc beside them along Dv.
  void storePartials(OpBuilder &b, Location loc, const Kernel &kn,
                     gpu::LaunchOp launch, Value rowExists, Value groupRow,
                     ValueRange state) const {
    IndexBuilder ib(b, loc);
    auto storeIf = scf::IfOp::create(b, loc, rowExists, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(storeIf.thenBlock());
    SmallVector<Value> at = {launch.getBlockIds().z, launch.getBlockIds().y,
                             launch.getBlockIds().x, groupRow};
    memref::StoreOp::create(b, loc, state[0], kn.rowMax, at);
    memref::StoreOp::create(b, loc, state[1], kn.rowSum, at);
    at.push_back(Value());
    unrollLater(forEach(b, loc, ib.c(0), ib.c(kn.valueDim), ib.c(1),
                        [&](OpBuilder &nb, Location l, Value d) {
                          at.back() = d;
                          Value a = memref::LoadOp::create(nb, l, kn.acc, d);
                          memref::StoreOp::create(nb, l, a, kn.partialAcc, at);
                        }));
  }

  /// The block's threads copy keys [colStart, colStart + tile) of K and V
  /// into shared memory, in f32, 0 past S; barriers on both sides keep the
  /// previous tile alive until every thread is done with it.
  void loadKeyValueTiles(OpBuilder &b, Location loc, const Kernel &kn,
                         Value batch, Value kvHead, Value colStart,
                         Value numKeys, Value thread) const {
    IndexBuilder ib(b, loc);
    gpu::BarrierOp::create(b, loc);
    auto load = [&](Value source, Value into, int64_t width) {
      Value count = ib.c(kn.tile * width);
      forEach(b, loc, thread, count, ib.c(queryTile),
              [&](OpBuilder &nb, Location l, Value e) {
                IndexBuilder nib(nb, l);
                Value r = nib.div(e, nib.c(width)),
                      d = nib.rem(e, nib.c(width));
                Value key = nib.add(colStart, r);
                auto inside = scf::IfOp::create(
                    nb, l, TypeRange{nb.getF32Type()}, nib.lt(key, numKeys),
                    /*withElse=*/true);
                {
                  OpBuilder::InsertionGuard guard(nb);
                  nb.setInsertionPointToStart(inside.thenBlock());
                  Value x = memref::LoadOp::create(
                      nb, l, source, ValueRange{batch, kvHead, key, d});
                  scf::YieldOp::create(nb, l, toF32(nb, l, x));
                  nb.setInsertionPointToStart(inside.elseBlock());
                  scf::YieldOp::create(nb, l, f32Constant(nb, l, 0));
                }
                memref::StoreOp::create(nb, l, inside.getResult(0), into,
                                        ValueRange{r, d});
              });
    };
    load(kn.k, kn.keyTile, kn.headDim);
    load(kn.v, kn.valueTile, kn.valueDim);
    gpu::BarrierOp::create(b, loc);
  }

  struct TileStep {
    Value row, rowBegin, rowEnd, colStart, numQueries, validKeys, head;
    Value rowMax, rowSum;
  };

  /// One row's online-softmax update over the key tile in shared memory;
  /// returns the new (m, l) and updates the accumulator in place.
  SmallVector<Value> updateRow(OpBuilder &b, Location loc, const Kernel &kn,
                               const TileStep &step) const {
    IndexBuilder ib(b, loc);
    AttentionOp op = kn.op;
    Value zero = ib.c(0), one = ib.c(1), tile = ib.c(kn.tile);
    Value negInf = f32Constant(b, loc, kNegInf);
    Value zeroF = f32Constant(b, loc, 0);

    // A tile that neither the key length nor the mask cuts needs no mask.
    auto mask = op.getEffectiveMask();
    Value full = buildKeyTileIsFull(b, loc, mask, step.rowBegin, step.rowEnd,
                                    step.colStart, kn.tile, step.numQueries,
                                    step.validKeys, step.head);

    // s_j = q . k_j (log2 domain), -inf where hidden; the tile's maximum.
    auto scoreLoop = scf::ForOp::create(
        b, loc, zero, tile, one, ValueRange{negInf},
        [&](OpBuilder &nb, Location l, Value j, ValueRange tileMax) {
          IndexBuilder nib(nb, l);
          auto dot = unrollLater(scf::ForOp::create(
              nb, l, zero, nib.c(kn.headDim), one, ValueRange{zeroF},
              [&](OpBuilder &db, Location dl, Value d, ValueRange partial) {
                Value qd = memref::LoadOp::create(db, dl, kn.queryRow, d);
                Value kd = memref::LoadOp::create(db, dl, kn.keyTile,
                                                  ValueRange{j, d});
                Value s = math::FmaOp::create(db, dl, qd, kd, partial[0]);
                scf::YieldOp::create(db, dl, s);
              }));
          Value col = nib.add(step.colStart, j);
          Value visible =
              buildKeyIsVisible(nb, l, mask, step.row, col, step.numQueries,
                                step.validKeys, step.head);
          visible = arith::OrIOp::create(nb, l, full, visible);
          Value s =
              arith::SelectOp::create(nb, l, visible, dot.getResult(0), negInf);
          memref::StoreOp::create(nb, l, s, kn.scores, j);
          scf::YieldOp::create(
              nb, l,
              arith::MaximumFOp::create(nb, l, tileMax[0], s).getResult());
        });

    // m' = max(m, tile max); alpha = exp2(m - m'); p_j = exp2(s_j - m').
    Value newMax =
        arith::MaximumFOp::create(b, loc, step.rowMax, scoreLoop.getResult(0));
    Value offset = safeOffset(b, loc, newMax);
    Value alpha = exp2Of(b, loc, step.rowMax, offset);
    auto sumLoop = scf::ForOp::create(
        b, loc, zero, tile, one, ValueRange{zeroF},
        [&](OpBuilder &nb, Location l, Value j, ValueRange partial) {
          Value s = memref::LoadOp::create(nb, l, kn.scores, j);
          Value p = exp2Of(nb, l, s, offset);
          memref::StoreOp::create(nb, l, p, kn.scores, j);
          scf::YieldOp::create(
              nb, l, arith::AddFOp::create(nb, l, partial[0], p).getResult());
        });
    Value newSum = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, alpha, step.rowSum),
        sumLoop.getResult(0));

    // acc_d = alpha acc_d + sum_j p_j v_jd, with j outside so that each p_j
    // is read once and the (unrolled) d loop keeps acc in registers.
    Value valueDim = ib.c(kn.valueDim);
    unrollLater(forEach(
        b, loc, zero, valueDim, one, [&](OpBuilder &nb, Location l, Value d) {
          Value a = arith::MulFOp::create(
              nb, l, memref::LoadOp::create(nb, l, kn.acc, d), alpha);
          memref::StoreOp::create(nb, l, a, kn.acc, d);
        }));
    forEach(b, loc, zero, tile, one, [&](OpBuilder &nb, Location l, Value j) {
      Value p = memref::LoadOp::create(nb, l, kn.scores, j);
      unrollLater(forEach(
          nb, l, zero, valueDim, one, [&](OpBuilder &wb, Location wl, Value d) {
            Value vd =
                memref::LoadOp::create(wb, wl, kn.valueTile, ValueRange{j, d});
            Value a = memref::LoadOp::create(wb, wl, kn.acc, d);
            memref::StoreOp::create(
                wb, wl, math::FmaOp::create(wb, wl, p, vd, a), kn.acc, d);
          }));
    });
    return {newMax, newSum};
  }

  int64_t queryTile, keyTile, chunks, multiprocessors;
};

struct AttnLowerAttentionToGPUPass
    : attn::impl::AttnLowerAttentionToGPUPassBase<AttnLowerAttentionToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (queryTile <= 0 || queryTile > 1024 || keyTile <= 0 || splitK < 0 ||
        multiprocessors <= 0) {
      getOperation().emitError(
          "query-tile must be in [1, 1024] (threads per block), key-tile and "
          "multiprocessors positive, split-k not negative");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerAttentionToGPU>(&getContext(), queryTile, keyTile, splitK,
                                      multiprocessors);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // An attention the kernel could not take (the pattern said why) is an
    // error, not a silent fallback.
    WalkResult unlowered = getOperation().walk([](AttentionOp op) {
      return isMarkedFor(op, kFlashStrategy) || isMarkedFor(op, kDecodeStrategy)
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (unlowered.wasInterrupted())
      return signalPassFailure();

    SmallVector<scf::ForOp> marked;
    getOperation().walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kUnrollAttr))
        marked.push_back(loop);
    });
    for (scf::ForOp loop : marked)
      if (failed(loopUnrollFull(loop)))
        return signalPassFailure();
  }
};

} // namespace
