//===- SIMTKernel.cpp - the flash strategy on the FP32 cores --------------===//
//
// attn.attention as one gpu.launch that computes the online softmax of
// TileOnlineSoftmax.cpp (same recurrence, same log2 domain, same key ranges
// from the mask) on the grid of GPUKernel.h, one thread per packed row:
//
//   block = Tq threads; thread t owns packed row p = tile * Tq + t.
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
// The kernel reads its operands through memrefs of any strides and writes a
// fresh buffer; the tensors around it are bridged with to_buffer/to_tensor,
// so bufferization and the rest of the pipeline see an ordinary buffer
// producer. Every operand type (f32, f16, bf16) is computed in f32.
//
//===----------------------------------------------------------------------===//

#include "GPUKernel.h"

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernel;

namespace {

class SIMTKernel : public OpRewritePattern<AttentionOp> {
public:
  SIMTKernel(MLIRContext *ctx, int64_t queryTile, int64_t keyTile,
             int64_t chunks, int64_t multiprocessors)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile),
        chunks(chunks), multiprocessors(multiprocessors) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy) && !isMarkedFor(op, kDecodeStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    if (failed(checkDecodeFits(rewriter, op, queryTile)))
      return failure();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    auto vType = cast<RankedTensorType>(op.getValue().getType());
    int64_t headDim = qType.getDimSize(3), valueDim = vType.getDimSize(3);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return op.emitOpError("the GPU kernel needs static head dimensions");
    // Each thread holds its query row and its output row in registers, in
    // loops unrolled over them: the kernel grows with D and Dv.
    if (headDim > kMaxHeadDim || valueDim > kMaxHeadDim)
      return op.emitOpError("the GPU kernels take head widths up to ")
             << kMaxHeadDim << " (a thread holds a row of q and of the "
             << "output in registers), not D = " << headDim << " and Dv = "
             << valueDim << "; the CPU takes any width";
    // The K and V tiles fit the block's shared memory (at least 24 keys of
    // the widest heads).
    int64_t tile = std::min(
        keyTile, kStaticSharedMemoryBytes / (4 * (headDim + valueDim)));

    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    Kernel kernel;
    kernel.frame =
        buildKernelFrame(rewriter, op, OperandLayout::AnyStrides, queryTile,
                         chunks, multiprocessors);
    kernel.tile = tile;
    const KernelFrame &frame = kernel.frame;

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
        rewriter, loc, frame.blocksX, ib.c(op.getNumHeads() / frame.pack),
        frame.batch, ib.c(queryTile), ib.c(1), ib.c(1),
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
    replaceWithKernelResults(rewriter, frame);
    return success();
  }

private:
  struct Kernel {
    KernelFrame frame;
    int64_t tile = 0;
    Value keyTile, valueTile, queryRow, acc, scores;
  };

  void buildBody(OpBuilder &b, Location loc, const Kernel &kn,
                 gpu::LaunchOp launch) const {
    IndexBuilder ib(b, loc);
    const KernelFrame &frame = kn.frame;
    AttentionOp op = frame.op;
    Type f32 = b.getF32Type();
    Value thread = launch.getThreadIds().x;
    BlockRows rows =
        buildBlockRows(b, loc, frame, launch, queryTile, kn.tile);
    PackedRow row =
        unpackRow(b, loc, frame, rows, ib.add(rows.firstPacked, thread));

    // This thread's query row, in f32 and scaled into the log2 domain.
    Value zero = ib.c(0), one = ib.c(1);
    Value headDim = ib.c(frame.headDim), valueDim = ib.c(frame.valueDim);
    Value log2Scale = f32Constant(b, loc, op.getScaleOrDefault() * kLog2E);
    Value zeroF = f32Constant(b, loc, 0);
    ifThen(b, loc, row.exists, [&](OpBuilder &b, Location loc) {
      unrollLater(forEach(
          b, loc, zero, headDim, one, [&](OpBuilder &nb, Location l, Value d) {
            Value x = memref::LoadOp::create(
                nb, l, frame.q, ValueRange{rows.batch, row.head, row.query, d});
            Value scaled =
                arith::MulFOp::create(nb, l, toF32(nb, l, x), log2Scale);
            memref::StoreOp::create(nb, l, scaled, kn.queryRow, d);
          }));
      unrollLater(forEach(b, loc, zero, valueDim, one,
                          [&](OpBuilder &nb, Location l, Value d) {
                            memref::StoreOp::create(nb, l, zeroF, kn.acc, d);
                          }));
    });

    Value tileSize = ib.c(kn.tile);
    Value negInf = f32Constant(b, loc, kNegInf);
    SmallVector<Value> final = buildKeyTileLoops(
        b, loc, rows.tileRanges, ValueRange{negInf, zeroF},
        [&](OpBuilder &nb, Location l, Value keyTileIndex,
            ValueRange state) -> SmallVector<Value> {
          Value colStart = IndexBuilder(nb, l).mul(keyTileIndex, tileSize);
          loadKeyValueTiles(nb, l, kn, rows, colStart, thread);
          auto update = scf::IfOp::create(nb, l, TypeRange{f32, f32},
                                          row.exists, /*withElse=*/true);
          {
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPointToStart(update.thenBlock());
            scf::YieldOp::create(
                nb, l, updateRow(nb, l, kn, rows, row, colStart, state));
            nb.setInsertionPointToStart(update.elseBlock());
            scf::YieldOp::create(nb, l, state);
          }
          return SmallVector<Value>(update.getResults());
        });
    Value sum = final[1];
    if (frame.decode) {
      storePartials(b, loc, kn, launch, row,
                    groupRowIndex(b, loc, rows, row), final);
      return;
    }
    if (frame.lse)
      ifThen(b, loc, row.exists, [&](OpBuilder &b, Location loc) {
        memref::StoreOp::create(b, loc, logSumExpOf(b, loc, final[0], sum),
                                frame.lse,
                                ValueRange{rows.batch, row.head, row.query});
      });

    // out = l > 0 ? acc / l : 0.
    ifThen(b, loc, row.exists, [&](OpBuilder &b, Location loc) {
      Type outType = cast<MemRefType>(frame.out.getType()).getElementType();
      Value any =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UGT, sum, zeroF);
      unrollLater(forEach(
          b, loc, zero, valueDim, one, [&](OpBuilder &nb, Location l, Value d) {
            Value a = memref::LoadOp::create(nb, l, kn.acc, d);
            Value o = arith::SelectOp::create(
                nb, l, any, arith::DivFOp::create(nb, l, a, sum), zeroF);
            if (outType != f32)
              o = arith::TruncFOp::create(nb, l, outType, o);
            memref::StoreOp::create(
                nb, l, o, frame.out,
                ValueRange{rows.batch, row.head, row.query, d});
          }));
    });
  }

  /// A decode block's final state of its row, unnormalized: m and l at
  /// (b, K/V head, chunk, row), acc beside them along Dv.
  void storePartials(OpBuilder &b, Location loc, const Kernel &kn,
                     gpu::LaunchOp launch, const PackedRow &row,
                     Value groupRow, ValueRange state) const {
    const KernelFrame &frame = kn.frame;
    ifThen(b, loc, row.exists, [&](OpBuilder &b, Location loc) {
      IndexBuilder ib(b, loc);
      SmallVector<Value> at = {launch.getBlockIds().z, launch.getBlockIds().y,
                               launch.getBlockIds().x, groupRow};
      memref::StoreOp::create(b, loc, state[0], frame.rowMax, at);
      memref::StoreOp::create(b, loc, state[1], frame.rowSum, at);
      at.push_back(Value());
      unrollLater(forEach(
          b, loc, ib.c(0), ib.c(frame.valueDim), ib.c(1),
          [&](OpBuilder &nb, Location l, Value d) {
            at.back() = d;
            Value a = memref::LoadOp::create(nb, l, kn.acc, d);
            memref::StoreOp::create(nb, l, a, frame.partialAcc, at);
          }));
    });
  }

  /// The block's threads copy keys [colStart, colStart + tile) of K and V
  /// into shared memory, in f32, 0 past the valid keys; barriers on both
  /// sides keep the previous tile alive until every thread is done with it.
  void loadKeyValueTiles(OpBuilder &b, Location loc, const Kernel &kn,
                         const BlockRows &rows, Value colStart,
                         Value thread) const {
    gpu::BarrierOp::create(b, loc);
    // Zeros past the valid keys, not the padding (which may be NaN: p is 0
    // there, but 0 NaN in acc += p v is not 0).
    for (auto [source, tile] : {std::pair{kn.frame.k, kn.keyTile},
                                std::pair{kn.frame.v, kn.valueTile}})
      stageRows(b, loc, source, rows.batch, rows.kvHead, colStart,
                rows.validKeys, tile, thread, queryTile);
    gpu::BarrierOp::create(b, loc);
  }

  /// One row's online-softmax update over the key tile in shared memory;
  /// returns the new (m, l) and updates the accumulator in place.
  SmallVector<Value> updateRow(OpBuilder &b, Location loc, const Kernel &kn,
                               const BlockRows &rows, const PackedRow &row,
                               Value colStart, ValueRange state) const {
    IndexBuilder ib(b, loc);
    const KernelFrame &frame = kn.frame;
    Value zero = ib.c(0), one = ib.c(1), tile = ib.c(kn.tile);
    Value negInf = f32Constant(b, loc, kNegInf);
    Value zeroF = f32Constant(b, loc, 0);
    Value rowMax = state[0], rowSum = state[1];

    // A tile that neither the key length nor the mask cuts needs no mask.
    auto mask = frame.op.getEffectiveMask();
    Value full = buildKeyTileIsFull(b, loc, mask, rows.rowBegin, rows.rowEnd,
                                    colStart, kn.tile, rows.numQueries,
                                    rows.validKeys, row.head);

    // s_j = q . k_j (log2 domain), -inf where hidden; the tile's maximum.
    auto scoreLoop = scf::ForOp::create(
        b, loc, zero, tile, one, ValueRange{negInf},
        [&](OpBuilder &nb, Location l, Value j, ValueRange tileMax) {
          IndexBuilder nib(nb, l);
          auto dot = unrollLater(scf::ForOp::create(
              nb, l, zero, nib.c(frame.headDim), one, ValueRange{zeroF},
              [&](OpBuilder &db, Location dl, Value d, ValueRange partial) {
                Value qd = memref::LoadOp::create(db, dl, kn.queryRow, d);
                Value kd = memref::LoadOp::create(db, dl, kn.keyTile,
                                                  ValueRange{j, d});
                Value s = math::FmaOp::create(db, dl, qd, kd, partial[0]);
                scf::YieldOp::create(db, dl, s);
              }));
          Value col = nib.add(colStart, j);
          Value visible =
              buildKeyIsVisible(nb, l, mask, row.query, col, rows.numQueries,
                                rows.validKeys, row.head);
          visible = arith::OrIOp::create(nb, l, full, visible);
          // The score modifier (log2 domain) before the mask hides a score.
          Value score = dot.getResult(0);
          if (ScoreModAttrInterface mod = frame.op.getScoreModAttr())
            score = mod.buildModifiedScore(
                nb, l, score, kLog2E,
                {row.query, col, rows.numQueries, rows.validKeys, row.head,
                 frame.op.getNumHeads()});
          Value s = arith::SelectOp::create(nb, l, visible, score, negInf);
          memref::StoreOp::create(nb, l, s, kn.scores, j);
          scf::YieldOp::create(
              nb, l,
              arith::MaximumFOp::create(nb, l, tileMax[0], s).getResult());
        });

    // m' = max(m, tile max); alpha = exp2(m - m'); p_j = exp2(s_j - m').
    Value newMax =
        arith::MaximumFOp::create(b, loc, rowMax, scoreLoop.getResult(0));
    Value offset = safeOffset(b, loc, newMax);
    Value alpha = exp2Of(b, loc, rowMax, offset);
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
        b, loc, arith::MulFOp::create(b, loc, alpha, rowSum),
        sumLoop.getResult(0));

    // acc_d = alpha acc_d + sum_j p_j v_jd, with j outside so that each p_j
    // is read once and the (unrolled) d loop keeps acc in registers.
    Value valueDim = ib.c(frame.valueDim);
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

} // namespace

void mlir::attn::populateSIMTKernelPatterns(RewritePatternSet &patterns,
                                            int64_t queryTile, int64_t keyTile,
                                            int64_t chunks,
                                            int64_t multiprocessors) {
  patterns.add<SIMTKernel>(patterns.getContext(), queryTile, keyTile, chunks,
                           multiprocessors);
}
