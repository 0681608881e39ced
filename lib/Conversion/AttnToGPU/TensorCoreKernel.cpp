//===- TensorCoreKernel.cpp - the flash strategy on tensor cores ----------===//
//
// attn.attention with f16 or bf16 operands as one gpu.launch on the grid of
// GPUKernel.h whose products run on the tensor cores (mma.sync, sm_80+),
// after FlashAttention-2 (Dao 2023, section 3):
//
//   block  = 4 warps over Br = 64 or 128 packed rows; warp w owns rows
//            [w Br/4, (w + 1) Br/4), one or two m-tiles of 16.
//   shared = the block's Q tile (Br x D), and two stages of the K and V tiles
//            (Bc x D, Bc x Dv), in the operands' type, each row padded by 8
//            elements (16 bytes) so that the 8 rows an ldmatrix reads fall in
//            8 different bank groups. Dynamic shared memory: the tiles need
//            more than 48 KiB at D = 128.
//   copies = cp.async (nvgpu.device_async_copy) of 16-byte pieces, zero-filled
//            past N and S: the next visited K/V tile is in flight while the
//            current one is computed (two stages, one group per tile).
//
// Per visited key tile [c, c + Bc), each warp computes, for its 16-row
// m-tiles, in registers only:
//
//   S = Q K^T         m16n8k16 mma with f32 accumulators; Q's A fragments
//                     loaded once (ldmatrix), K's B fragments by ldmatrix
//                     (K's rows are the columns of K^T: no transpose);
//   mask              only on a tile the schedule calls partial;
//   m' = max(m, c_s rowmax(S)),  alpha = exp2(m - m'),
//   P = exp2(c_s S - m')         c_s = scale log2(e) folded into one FMA;
//   l' = alpha l + rowsum(P),    O' = alpha O + P V
//                     P V as an mma whose A operand is P itself: the
//                     accumulator layout of m16n8k16 (row g and g + 8,
//                     columns 2t, 2t + 1 of each 8-column tile) is the A
//                     layout of the next m16n8k16 once two 8-column tiles are
//                     packed to f16/bf16 pairs; V's B fragments by
//                     ldmatrix.trans.
//
// A row's 16 or 32 accumulators of a tile are spread over the 4 threads of a
// quad (lanes 4g .. 4g + 3): the row maximum is reduced across them by two
// xor shuffles; the row sum stays per thread until the end (alpha is the
// same for the quad). The result is O / l (0 for a row that saw no key) in
// the output type; decode blocks write (m, l, O) for the split-K merge.
//
// The fragments' layouts are those of the PTX ISA (warp-level matrix
// fragments for mma.m16n8k16, and ldmatrix); lane = 4 g + t.
//
//===----------------------------------------------------------------------===//

#include "GPUKernel.h"

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernel;

namespace {

constexpr int64_t kWarps = 4, kWarpSize = 32, kThreads = kWarps * kWarpSize;
/// Elements of padding after each shared-memory row (16 bytes).
constexpr int64_t kRowPadding = 8;
/// Elements of a 16-byte cp.async piece.
constexpr int64_t kPiece = 8;

/// The tiles of one kernel. Their shared memory is at most 170 KiB (128
/// rows, 128 keys, D = Dv = 128), under sm_90's 227 KiB and sm_80's 163 KiB
/// for the default 64 x 64 tiles (87 KiB at D = 128) also under the 99 KiB
/// of sm_86 and sm_89; a launch beyond a GPU's limit fails with the
/// runtime's message.
struct Geometry {
  int64_t rows, keys, headDim, valueDim;
  /// 16-row m-tiles per warp.
  int64_t mTiles() const { return rows / (16 * kWarps); }
  int64_t queryBytes() const { return rows * (headDim + kRowPadding) * 2; }
  int64_t keyBytes() const { return 2 * keys * (headDim + kRowPadding) * 2; }
  int64_t valueBytes() const {
    return 2 * keys * (valueDim + kRowPadding) * 2;
  }
  int64_t sharedBytes() const {
    return queryBytes() + keyBytes() + valueBytes();
  }
  /// Elements of a padded shared row of `width`, and of a K or V stage.
  static int64_t stride(int64_t width) { return width + kRowPadding; }
  int64_t keyStage() const { return keys * stride(headDim); }
  int64_t valueStage() const { return keys * stride(valueDim); }
  /// Q's A fragments stay in registers when one m-tile leaves room for them
  /// (D/16 x 4 registers); with two they are reread from shared memory.
  bool queryInRegisters() const { return mTiles() == 1; }
};

/// A fragment of an m16n8 accumulator: c[0], c[1] of row g (columns 2t,
/// 2t + 1) and c[2], c[3] of row g + 8.
using Accumulator = std::array<Value, 4>;

/// A 32-bit register holding two f16/bf16 elements, in the form nvvm.mma.sync
/// takes: vector<2xf16> for f16, i32 for bf16.
Value packPair(OpBuilder &b, Location loc, Value pair) {
  auto type = cast<VectorType>(pair.getType());
  if (type.getElementType().isF16())
    return pair;
  Value word = vector::BitCastOp::create(
      b, loc, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, loc, word, ArrayRef<int64_t>{0});
}

/// The registers of an ldmatrix result (vector<n x 2 x T>), packed.
SmallVector<Value> registersOf(OpBuilder &b, Location loc, Value matrices) {
  SmallVector<Value> registers;
  for (int64_t i = 0, e = cast<VectorType>(matrices.getType()).getDimSize(0);
       i < e; ++i)
    registers.push_back(packPair(
        b, loc,
        vector::ExtractOp::create(b, loc, matrices, ArrayRef<int64_t>{i})));
  return registers;
}

/// D = A B + C on one m16n8k16 tile: A 4 registers, B 2, C and D f32.
/// (nvgpu.mma.sync has no bf16 lowering; nvvm.mma.sync takes both types.)
Accumulator mma(OpBuilder &b, Location loc, Type elementType, ValueRange a,
                ValueRange bOperand, const Accumulator &c) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  NVVM::MMATypes type =
      elementType.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  auto op = NVVM::MmaOp::create(
      b, loc, resultType, a, bOperand, ValueRange(c), {16, 8, 16},
      /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
      std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Accumulator d;
  for (int64_t i = 0; i < 4; ++i)
    d[i] = LLVM::ExtractValueOp::create(b, loc, op.getRes(), i);
  return d;
}

/// The four 8x8 matrices of an ldmatrix.x4 of the flat tile `shared`, at
/// the 8 rows each group of 8 lanes points to (this lane: `index`).
Value loadMatrices(OpBuilder &b, Location loc, Value shared, Value index,
                   bool transpose) {
  auto type = cast<MemRefType>(shared.getType());
  return nvgpu::LdMatrixOp::create(
      b, loc, VectorType::get({4, 2}, type.getElementType()), shared,
      ValueRange{index}, transpose, /*numTiles=*/4);
}

Value maxOf(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MaximumFOp::create(b, loc, x, y);
}

/// The maximum (or sum) of `x` over the 4 lanes of a quad: xor shuffles by 1
/// and 2 combine lanes 4g .. 4g + 3.
Value quadReduce(OpBuilder &b, Location loc, Value x, bool sum) {
  for (int32_t offset : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, x, offset, kWarpSize,
                               gpu::ShuffleMode::XOR)
            .getShuffleResult();
    x = sum ? arith::AddFOp::create(b, loc, x, other).getResult()
            : maxOf(b, loc, x, other);
  }
  return x;
}

/// exp2 on the multifunction unit (ex2.approx.ftz.f32: relative error
/// 2^-22, exp2(-inf) = 0, results below 2^-126 flushed to 0), not through
/// attn-approximate-exp2's polynomial. (convert-gpu-to-nvvm refuses
/// llvm.intr.exp2, which it would send to libdevice.)
Value exp2(OpBuilder &b, Location loc, Value x) {
  return LLVM::CallIntrinsicOp::create(
             b, loc, b.getF32Type(),
             b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f"), ValueRange{x})
      .getResult(0);
}

class TensorCoreKernel : public OpRewritePattern<AttentionOp> {
public:
  TensorCoreKernel(MLIRContext *ctx, int64_t rows, int64_t keys,
                   int64_t chunks, int64_t multiprocessors)
      : OpRewritePattern(ctx, /*benefit=*/2), rows(rows), keys(keys),
        chunks(chunks), multiprocessors(multiprocessors) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy) && !isMarkedFor(op, kDecodeStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    // Score modifiers are the SIMT kernel's (not yet on the fragments).
    if (op.getScoreModAttr())
      return rewriter.notifyMatchFailure(op, "a score modifier");
    bool decode = !isMarkedFor(op, kFlashStrategy);
    if (decode && !isDecodeShaped(op, rows))
      return rewriter.notifyMatchFailure(
          op, "the group's decode rows do not fit one block");
    Type element = getElementTypeOrSelf(op.getQuery().getType());
    // (The verifier makes q, k, v and the result one type.)
    if (!element.isF16() && !element.isBF16())
      return rewriter.notifyMatchFailure(op, "not f16 or bf16");
    Geometry geometry{
        rows, keys,
        cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3),
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3)};
    for (int64_t dim : {geometry.headDim, geometry.valueDim})
      if (ShapedType::isDynamic(dim) || dim % 16 != 0 || dim > 128)
        return rewriter.notifyMatchFailure(
            op, "head dimensions not static multiples of 16 up to 128");

    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    Kernel kn{buildKernelFrame(rewriter, op, OperandLayout::UnitStrideRows,
                               rows, chunks, multiprocessors),
              geometry, element};
    auto launch = gpu::LaunchOp::create(
        rewriter, loc, kn.frame.blocksX,
        ib.c(op.getNumHeads() / kn.frame.pack), kn.frame.batch,
        ib.c(kThreads), ib.c(1), ib.c(1),
        arith::ConstantIntOp::create(rewriter, loc, geometry.sharedBytes(),
                                     32));
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&launch.getBody().front());
      buildBody(rewriter, loc, kn, launch);
      gpu::TerminatorOp::create(rewriter, loc);
    }
    replaceWithKernelResults(rewriter, kn.frame);
    return success();
  }

private:
  struct Kernel {
    KernelFrame frame;
    Geometry geometry;
    Type element;
    // Shared memory, flat: Q (Br x D+8), K (2 x Bc x D+8), V (2 x Bc x
    // Dv+8). Flat so that each ldmatrix's address is the lane's base plus a
    // constant, which the loads take as an immediate offset (with 2-D
    // indices LLVM hoists one lane-plus-constant sum per load out of the key
    // loop, and those live registers spill).
    Value queryTile, keyTiles, valueTiles;
    // The thread's place: lane = 4 g + t, its warp's first row in the block.
    Value lane, group, quadLane, warpRow;
    // The lane's ldmatrix addresses in stage 0 of K and V (see
    // updateState).
    Value keyLane, valueLane;
  };

  /// The thread's rows: m-tile `m`, half `h` (row g or g + 8).
  Value rowInBlock(OpBuilder &b, Location loc, const Kernel &kn, int64_t m,
                   int64_t h) const {
    IndexBuilder ib(b, loc);
    return ib.add(kn.warpRow, ib.add(ib.c(16 * m + 8 * h), kn.group));
  }

  void buildBody(OpBuilder &b, Location loc, Kernel &kn,
                 gpu::LaunchOp launch) const {
    IndexBuilder ib(b, loc);
    const Geometry &g = kn.geometry;
    Value thread = launch.getThreadIds().x;
    kn.lane = ib.rem(thread, ib.c(kWarpSize));
    kn.group = ib.div(kn.lane, ib.c(4));
    kn.quadLane = ib.rem(kn.lane, ib.c(4));
    kn.warpRow = ib.mul(ib.div(thread, ib.c(kWarpSize)), ib.c(16 * g.mTiles()));

    // The tiles in dynamic shared memory.
    MLIRContext *ctx = b.getContext();
    auto workgroup =
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    Value base = gpu::DynamicSharedMemoryOp::create(
        b, loc,
        MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                        MemRefLayoutAttrInterface{}, workgroup));
    auto view = [&](int64_t offset, int64_t bytes) -> Value {
      return memref::ViewOp::create(
          b, loc,
          MemRefType::get({bytes / 2}, kn.element,
                          MemRefLayoutAttrInterface{}, workgroup),
          base, ib.c(offset), ValueRange{});
    };
    kn.queryTile = view(0, g.queryBytes());
    kn.keyTiles = view(g.queryBytes(), g.keyBytes());
    kn.valueTiles = view(g.queryBytes() + g.keyBytes(), g.valueBytes());
    // ldmatrix.x4: lanes 8 i .. 8 i + 7 point to the rows of matrix i.
    Value matrix = ib.div(kn.lane, ib.c(8)), matrixRow = ib.rem(kn.lane, ib.c(8));
    // K: matrix i is keys 8 (i / 2) .., columns 8 (i % 2) .. (updateState).
    kn.keyLane = ib.add(
        ib.mul(ib.add(ib.mul(ib.div(matrix, ib.c(2)), ib.c(8)), matrixRow),
               ib.c(Geometry::stride(g.headDim))),
        ib.mul(ib.rem(matrix, ib.c(2)), ib.c(8)));
    // V: matrix i is keys 8 (i % 2) .., columns 8 (i / 2) ...
    kn.valueLane = ib.add(
        ib.mul(ib.add(ib.mul(ib.rem(matrix, ib.c(2)), ib.c(8)), matrixRow),
               ib.c(Geometry::stride(g.valueDim))),
        ib.mul(ib.div(matrix, ib.c(2)), ib.c(8)));

    const KernelFrame &frame = kn.frame;
    BlockRows rows = buildBlockRows(b, loc, frame, launch, g.rows, g.keys);
    KeyTileSequence sequence(b, loc, rows.tileRanges);

    // Prologue: Q's tile as one group, the first K/V tile as the next; wait
    // for Q and read its fragments while the K/V tile is in flight.
    copyQueryTile(b, loc, kn, rows, thread);
    createGroup(b, loc);
    ifThen(b, loc, ib.lt(ib.c(0), sequence.count),
           [&](OpBuilder &b, Location loc) {
             copyKeyValueTile(b, loc, kn, rows,
                              sequence.tileAt(b, loc, IndexBuilder(b, loc).c(0)),
                              IndexBuilder(b, loc).c(0), thread);
           });
    waitForAllButLast(b, loc, createGroup(b, loc));
    gpu::BarrierOp::create(b, loc);
    SmallVector<SmallVector<SmallVector<Value>>> queryFragments;
    if (g.queryInRegisters())
      queryFragments = loadQueryFragments(b, loc, kn);

    // The state: per m-tile, O (Dv / 8 accumulators) and (m, l) of the two
    // rows; m = -inf, l = 0, O = 0. Then the lane's K and V addresses in
    // the current stage, which trade places with the other stage's:
    // base' = (2 lane + stage size) - base.
    Value zeroF = f32Constant(b, loc, 0), negInf = f32Constant(b, loc, kNegInf);
    int64_t outputTiles = g.valueDim / 8;
    SmallVector<Value> init;
    for (int64_t m = 0; m < g.mTiles(); ++m) {
      init.append(outputTiles * 4, zeroF);
      init.append({negInf, negInf, zeroF, zeroF});
    }
    int64_t softmaxState = init.size();
    init.append({kn.keyLane, kn.valueLane});
    Value keyFlip = ib.add(ib.mul(kn.keyLane, ib.c(2)), ib.c(g.keyStage()));
    Value valueFlip =
        ib.add(ib.mul(kn.valueLane, ib.c(2)), ib.c(g.valueStage()));
    auto loop = scf::ForOp::create(
        b, loc, ib.c(0), sequence.count, ib.c(1), init,
        [&](OpBuilder &b, Location loc, Value t, ValueRange carried) {
          IndexBuilder ib(b, loc);
          ValueRange state = carried.take_front(softmaxState);
          Value keyBase = carried[softmaxState],
                valueBase = carried[softmaxState + 1];
          // Prefetch the next tile into the other stage, then wait for this
          // one (every group but the newest is complete).
          Value next = ib.add(t, ib.c(1));
          ifThen(b, loc, ib.lt(next, sequence.count),
                 [&](OpBuilder &b, Location loc) {
                   copyKeyValueTile(b, loc, kn, rows,
                                    sequence.tileAt(b, loc, next),
                                    IndexBuilder(b, loc).rem(next, ib.c(2)),
                                    thread);
                 });
          waitForAllButLast(b, loc, createGroup(b, loc));
          gpu::BarrierOp::create(b, loc);
          Value tile = sequence.tileAt(b, loc, t);
          SmallVector<Value> updated;
          auto compute = [&](OpBuilder &b, Location loc) {
            SmallVector<SmallVector<SmallVector<Value>>> fragments =
                g.queryInRegisters() ? queryFragments
                                     : loadQueryFragments(b, loc, kn);
            return updateState(b, loc, kn, rows, fragments, tile, keyBase,
                               valueBase, state);
          };
          if (sequence.mayRepeat()) {
            // A tile an earlier range of a union holds was computed then.
            auto once = scf::IfOp::create(b, loc, state.getTypes(),
                                          sequence.isRepeat(b, loc, t, tile),
                                          /*addThenBlock=*/true,
                                          /*addElseBlock=*/true);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(once.thenBlock());
            scf::YieldOp::create(b, loc, state);
            b.setInsertionPointToStart(once.elseBlock());
            scf::YieldOp::create(b, loc, compute(b, loc));
            b.setInsertionPointAfter(once);
            updated.assign(once.getResults().begin(), once.getResults().end());
          } else {
            updated = compute(b, loc);
          }
          // The stage just read is the next prefetch's destination.
          gpu::BarrierOp::create(b, loc);
          updated.push_back(ib.sub(keyFlip, keyBase));
          updated.push_back(ib.sub(valueFlip, valueBase));
          scf::YieldOp::create(b, loc, updated);
        });
    storeResults(b, loc, kn, rows, launch,
                 loop.getResults().take_front(softmaxState));
  }

  nvgpu::DeviceAsyncCreateGroupOp createGroup(OpBuilder &b,
                                              Location loc) const {
    // A group holds every copy this thread issued since the previous one
    // (PTX cp.async.commit_group), wherever the copies' tokens are.
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()),
        ValueRange{});
  }

  void waitForAllButLast(OpBuilder &b, Location loc,
                         nvgpu::DeviceAsyncCreateGroupOp group) const {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, group.getAsyncToken(),
                                     b.getI32IntegerAttr(1));
  }

  /// The block's threads copy `rowCount` rows of `width` elements into
  /// `shared` (into its `stage` when given; rows padded) in 16-byte pieces: piece e = thread +
  /// 128 i is piece e % (width / 8) of row e / (width / 8), so consecutive
  /// threads read consecutive pieces of a row (coalesced). `source(row)`
  /// gives a row's global indices (without the column) and whether it
  /// exists; a missing row is zero-filled and its (clamped) address not
  /// read.
  void copyRows(OpBuilder &b, Location loc, Value shared, Value stage,
                int64_t rowCount, int64_t width, Value global, Value thread,
                function_ref<std::pair<SmallVector<Value>, Value>(
                    OpBuilder &, Location, Value)>
                    source) const {
    IndexBuilder ib(b, loc);
    int64_t piecesPerRow = width / kPiece, pieces = rowCount * piecesPerRow;
    for (int64_t first = 0; first < pieces; first += kThreads) {
      auto copy = [&](OpBuilder &b, Location loc) {
        IndexBuilder ib(b, loc);
        Value piece = ib.add(thread, ib.c(first));
        Value row = ib.div(piece, ib.c(piecesPerRow));
        Value column = ib.mul(ib.rem(piece, ib.c(piecesPerRow)), ib.c(kPiece));
        auto [indices, exists] = source(b, loc, row);
        indices.push_back(column);
        // Element (row, column) of the stage, rows padded.
        Value at = ib.add(ib.mul(row, ib.c(Geometry::stride(width))), column);
        if (stage)
          at = ib.add(ib.mul(stage, ib.c(rowCount * Geometry::stride(width))),
                      at);
        Value elements = ib.select(exists, ib.c(kPiece), ib.c(0));
        nvgpu::DeviceAsyncCopyOp::create(
            b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), shared,
            ValueRange{at}, global, indices, b.getIndexAttr(kPiece), elements,
            /*bypassL1=*/b.getUnitAttr());
      };
      // The last round of a tile whose pieces are not a multiple of the
      // block's threads.
      if (first + kThreads > pieces)
        ifThen(b, loc, ib.lt(ib.add(thread, ib.c(first)), ib.c(pieces)), copy);
      else
        copy(b, loc);
    }
  }

  /// Q's tile: packed row r is query (p0 + r) / G of head firstHead +
  /// (p0 + r) % G.
  void copyQueryTile(OpBuilder &b, Location loc, const Kernel &kn,
                     const BlockRows &rows, Value thread) const {
    copyRows(b, loc, kn.queryTile, Value(), kn.geometry.rows,
             kn.geometry.headDim, kn.frame.q, thread,
             [&](OpBuilder &b, Location loc, Value r) {
               IndexBuilder ib(b, loc);
               PackedRow row = unpackRow(b, loc, kn.frame, rows,
                                         ib.add(rows.firstPacked, r));
               Value query = ib.min(row.query, ib.sub(rows.numQueries, ib.c(1)));
               return std::make_pair(
                   SmallVector<Value>{rows.batch, row.head, query}, row.exists);
             });
  }

  /// Keys [tile Bc, tile Bc + Bc) of K and V into `stage` (a visited tile
  /// holds at least one valid key).
  void copyKeyValueTile(OpBuilder &b, Location loc, const Kernel &kn,
                        const BlockRows &rows, Value tile, Value stage,
                        Value thread) const {
    IndexBuilder ib(b, loc);
    Value colStart = ib.mul(tile, ib.c(kn.geometry.keys));
    // Keys past the valid ones are zero-filled, not read: their scores are
    // masked, and a zero V row keeps P V finite whatever the padding holds
    // (0 x NaN would not be).
    auto keyRow = [&](OpBuilder &b, Location loc, Value r) {
      IndexBuilder ib(b, loc);
      Value key = ib.add(colStart, r);
      Value exists = ib.lt(key, rows.validKeys);
      key = ib.min(key, ib.sub(rows.validKeys, ib.c(1)));
      return std::make_pair(SmallVector<Value>{rows.batch, rows.kvHead, key},
                            exists);
    };
    copyRows(b, loc, kn.keyTiles, stage, kn.geometry.keys, kn.geometry.headDim,
             kn.frame.k, thread, keyRow);
    copyRows(b, loc, kn.valueTiles, stage, kn.geometry.keys,
             kn.geometry.valueDim, kn.frame.v, thread, keyRow);
  }

  /// The A fragments of the warp's Q rows: [m-tile][k-step] -> 4 registers.
  /// ldmatrix.x4 matrices 0..3 are (rows 0-7, k 0-7), (rows 8-15, k 0-7),
  /// (rows 0-7, k 8-15), (rows 8-15, k 8-15) = registers a0..a3: lane l
  /// points to row l % 16, column 8 (l / 16) of the 16x16 block.
  SmallVector<SmallVector<SmallVector<Value>>>
  loadQueryFragments(OpBuilder &b, Location loc, const Kernel &kn) const {
    IndexBuilder ib(b, loc);
    const Geometry &g = kn.geometry;
    int64_t stride = Geometry::stride(g.headDim);
    Value row = ib.add(kn.warpRow, ib.rem(kn.lane, ib.c(16)));
    Value lane = ib.add(ib.mul(row, ib.c(stride)),
                        ib.mul(ib.div(kn.lane, ib.c(16)), ib.c(8)));
    SmallVector<SmallVector<SmallVector<Value>>> fragments(g.mTiles());
    for (int64_t m = 0; m < g.mTiles(); ++m)
      for (int64_t k = 0; k < g.headDim / 16; ++k)
        fragments[m].push_back(registersOf(
            b, loc,
            loadMatrices(b, loc, kn.queryTile,
                         ib.add(lane, ib.c(16 * m * stride + 16 * k)),
                         /*transpose=*/false)));
    return fragments;
  }

  /// One key tile's update of the warp's state (see the file comment).
  SmallVector<Value>
  updateState(OpBuilder &b, Location loc, const Kernel &kn,
              const BlockRows &rows,
              ArrayRef<SmallVector<SmallVector<Value>>> queryFragments,
              Value tile, Value keyBase, Value valueBase,
              ValueRange state) const {
    IndexBuilder ib(b, loc);
    const Geometry &g = kn.geometry;
    const KernelFrame &frame = kn.frame;
    int64_t scoreTiles = g.keys / 8, outputTiles = g.valueDim / 8;
    Value zeroF = f32Constant(b, loc, 0);

    // S = Q K^T. For keys n0 .. n0 + 15 and k-step k, ldmatrix.x4's matrices
    // (keys n0 + 8 (i / 2) .., d 16 k + 8 (i % 2) ..) are K^T's B registers
    // b0, b1 of the 8-key tile n0 and b0, b1 of n0 + 8.
    SmallVector<SmallVector<Accumulator>> scores(
        g.mTiles(), SmallVector<Accumulator>(scoreTiles, {zeroF, zeroF, zeroF,
                                                          zeroF}));
    for (int64_t k = 0; k < g.headDim / 16; ++k)
      for (int64_t n = 0; n < scoreTiles; n += 2) {
        SmallVector<Value> kb = registersOf(
            b, loc,
            loadMatrices(b, loc, kn.keyTiles,
                         ib.add(keyBase, ib.c(8 * n * Geometry::stride(
                                                           g.headDim) +
                                              16 * k)),
                         /*transpose=*/false));
        for (int64_t m = 0; m < g.mTiles(); ++m) {
          scores[m][n] = mma(b, loc, kn.element, queryFragments[m][k],
                             {kb[0], kb[1]}, scores[m][n]);
          scores[m][n + 1] = mma(b, loc, kn.element, queryFragments[m][k],
                                 {kb[2], kb[3]}, scores[m][n + 1]);
        }
      }

    // The keys the mask or the key lengths hide, unless the whole tile is
    // visible to the block's rows.
    Value colStart = ib.mul(tile, ib.c(g.keys));
    auto mask = frame.op.getEffectiveMask();
    Value full =
        buildKeyTileIsFull(b, loc, mask, rows.rowBegin, rows.rowEnd, colStart,
                           g.keys, rows.numQueries, rows.validKeys,
                           rows.firstHead);
    SmallVector<Value> flat;
    for (auto &mTile : scores)
      for (Accumulator &acc : mTile)
        flat.append(acc.begin(), acc.end());
    auto masked = scf::IfOp::create(b, loc, ValueRange(flat).getTypes(), full,
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(masked.thenBlock());
      scf::YieldOp::create(b, loc, flat);
      b.setInsertionPointToStart(masked.elseBlock());
      IndexBuilder mb(b, loc);
      Value negInf = f32Constant(b, loc, kNegInf);
      SmallVector<Value> hidden(flat);
      for (int64_t m = 0; m < g.mTiles(); ++m)
        for (int64_t h = 0; h < 2; ++h) {
          PackedRow row =
              unpackRow(b, loc, frame, rows,
                        mb.add(rows.firstPacked, rowInBlock(b, loc, kn, m, h)));
          for (int64_t n = 0; n < scoreTiles; ++n)
            for (int64_t j = 0; j < 2; ++j) {
              Value col = mb.add(colStart,
                                 mb.add(mb.c(8 * n + j),
                                        mb.mul(kn.quadLane, mb.c(2))));
              Value visible =
                  buildKeyIsVisible(b, loc, mask, row.query, col,
                                    rows.numQueries, rows.validKeys, row.head);
              Value &s = hidden[(m * scoreTiles + n) * 4 + 2 * h + j];
              s = arith::SelectOp::create(b, loc, visible, s, negInf);
            }
        }
      scf::YieldOp::create(b, loc, hidden);
    }
    for (int64_t m = 0, i = 0; m < g.mTiles(); ++m)
      for (Accumulator &acc : scores[m])
        for (Value &s : acc)
          s = masked.getResult(i++);

    // The online softmax in the log2 domain, c_s = scale log2(e) folded into
    // exp2's argument: max(c_s S) = c_s max(S), as the verifier makes the
    // scale positive.
    Value scale =
        f32Constant(b, loc, frame.op.getScaleOrDefault() * kLog2E);
    int64_t stateSize = outputTiles * 4 + 4;
    SmallVector<Value> updated(state);
    SmallVector<SmallVector<SmallVector<Value>>> probabilities(g.mTiles());
    for (int64_t m = 0; m < g.mTiles(); ++m) {
      ValueRange mState = state.slice(m * stateSize, stateSize);
      for (int64_t h = 0; h < 2; ++h) {
        Value rowMax = mState[outputTiles * 4 + h];
        Value rowSum = mState[outputTiles * 4 + 2 + h];
        Value tileMax = scores[m][0][2 * h];
        for (int64_t n = 0; n < scoreTiles; ++n)
          for (int64_t j = 0; j < 2; ++j)
            tileMax = maxOf(b, loc, tileMax, scores[m][n][2 * h + j]);
        tileMax = quadReduce(b, loc, tileMax, /*sum=*/false);
        // m' = max(m, c_s rowmax(S)); alpha = exp2(m - m').
        Value newMax = maxOf(b, loc, rowMax,
                             arith::MulFOp::create(b, loc, tileMax, scale));
        Value offset = safeOffset(b, loc, newMax);
        Value negOffset = arith::NegFOp::create(b, loc, offset);
        Value alpha =
            exp2(b, loc, arith::SubFOp::create(b, loc, rowMax, offset));
        // P = exp2(c_s S - m'), l' = alpha l + rowsum(P) (this thread's
        // columns: the quad's partial sums add up at the end).
        Value sum = arith::MulFOp::create(b, loc, alpha, rowSum);
        for (int64_t n = 0; n < scoreTiles; ++n)
          for (int64_t j = 0; j < 2; ++j) {
            Value &s = scores[m][n][2 * h + j];
            s = exp2(b, loc, math::FmaOp::create(b, loc, s, scale, negOffset));
            sum = arith::AddFOp::create(b, loc, sum, s);
          }
        updated[m * stateSize + outputTiles * 4 + h] = newMax;
        updated[m * stateSize + outputTiles * 4 + 2 + h] = sum;
        // O' = alpha O (row g: elements 0, 1; row g + 8: 2, 3).
        for (int64_t n = 0; n < outputTiles; ++n)
          for (int64_t j = 0; j < 2; ++j) {
            Value &o = updated[m * stateSize + n * 4 + 2 * h + j];
            o = arith::MulFOp::create(b, loc, o, alpha);
          }
      }
      // P as A fragments of P V: k-step k (keys 16 k ..) is a0 = row g of
      // score tile 2k, a1 = row g + 8 of it, a2, a3 the same of tile 2k + 1.
      VectorType pairType = VectorType::get({2}, kn.element);
      auto pack = [&](Value x, Value y) {
        Value pair = vector::FromElementsOp::create(
            b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{x, y});
        return packPair(b, loc, arith::TruncFOp::create(b, loc, pairType, pair));
      };
      for (int64_t k = 0; k < g.keys / 16; ++k) {
        const Accumulator &low = scores[m][2 * k], &high = scores[m][2 * k + 1];
        probabilities[m].push_back({pack(low[0], low[1]), pack(low[2], low[3]),
                                    pack(high[0], high[1]),
                                    pack(high[2], high[3])});
      }
    }

    // O += P V. For keys 16 k .. and value columns n0 .. n0 + 15,
    // ldmatrix.x4.trans's matrices (keys 16 k + 8 (i % 2) .., columns
    // n0 + 8 (i / 2) ..) are V's B registers b0, b1 of the 8-column tile n0
    // and b0, b1 of n0 + 8.
    for (int64_t k = 0; k < g.keys / 16; ++k)
      for (int64_t n = 0; n < outputTiles; n += 2) {
        SmallVector<Value> vb = registersOf(
            b, loc,
            loadMatrices(b, loc, kn.valueTiles,
                         ib.add(valueBase,
                                ib.c(16 * k * Geometry::stride(g.valueDim) +
                                     8 * n)),
                         /*transpose=*/true));
        for (int64_t m = 0; m < g.mTiles(); ++m)
          for (int64_t half = 0; half < 2; ++half) {
            MutableArrayRef<Value> o(updated.data() + m * stateSize +
                                         (n + half) * 4,
                                     4);
            Accumulator acc{o[0], o[1], o[2], o[3]};
            acc = mma(b, loc, kn.element, probabilities[m][k],
                      {vb[2 * half], vb[2 * half + 1]}, acc);
            std::copy(acc.begin(), acc.end(), o.begin());
          }
      }
    return updated;
  }

  /// out = O / l (0 where l = 0) and the lse, or decode's (m, l, O); each
  /// thread writes its two columns of every 8-column tile of its rows.
  void storeResults(OpBuilder &b, Location loc, const Kernel &kn,
                    const BlockRows &rows, gpu::LaunchOp launch,
                    ValueRange state) const {
    IndexBuilder ib(b, loc);
    const Geometry &g = kn.geometry;
    const KernelFrame &frame = kn.frame;
    int64_t outputTiles = g.valueDim / 8, stateSize = outputTiles * 4 + 4;
    Value zeroF = f32Constant(b, loc, 0);
    Value firstColumn = ib.mul(kn.quadLane, ib.c(2));
    Value leader = ib.eq(kn.quadLane, ib.c(0));
    for (int64_t m = 0; m < g.mTiles(); ++m)
      for (int64_t h = 0; h < 2; ++h) {
        ValueRange mState = state.slice(m * stateSize, stateSize);
        Value rowMax = mState[outputTiles * 4 + h];
        Value rowSum = quadReduce(b, loc, mState[outputTiles * 4 + 2 + h],
                                  /*sum=*/true);
        PackedRow row =
            unpackRow(b, loc, frame, rows,
                      ib.add(rows.firstPacked, rowInBlock(b, loc, kn, m, h)));
        auto pairAt = [&](OpBuilder &b, Location loc, int64_t n, Value scale) {
          Value x = mState[n * 4 + 2 * h], y = mState[n * 4 + 2 * h + 1];
          if (scale) {
            x = arith::MulFOp::create(b, loc, x, scale);
            y = arith::MulFOp::create(b, loc, y, scale);
          }
          return vector::FromElementsOp::create(
              b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{x, y});
        };
        ifThen(b, loc, row.exists, [&](OpBuilder &b, Location loc) {
          IndexBuilder ib(b, loc);
          if (frame.decode) {
            SmallVector<Value> at = {launch.getBlockIds().z,
                                     launch.getBlockIds().y,
                                     launch.getBlockIds().x,
                                     groupRowIndex(b, loc, rows, row)};
            ifThen(b, loc, leader, [&](OpBuilder &b, Location loc) {
              memref::StoreOp::create(b, loc, rowMax, frame.rowMax, at);
              memref::StoreOp::create(b, loc, rowSum, frame.rowSum, at);
            });
            at.push_back(Value());
            for (int64_t n = 0; n < outputTiles; ++n) {
              at.back() = ib.add(ib.c(8 * n), firstColumn);
              vector::StoreOp::create(b, loc, pairAt(b, loc, n, Value()),
                                      frame.partialAcc, at);
            }
            return;
          }
          if (frame.lse)
            ifThen(b, loc, leader, [&](OpBuilder &b, Location loc) {
              memref::StoreOp::create(
                  b, loc, logSumExpOf(b, loc, rowMax, rowSum), frame.lse,
                  ValueRange{rows.batch, row.head, row.query});
            });
          // 1 / l, or 0 for a row that saw no key.
          Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UGT,
                                            rowSum, zeroF);
          Value inverse = arith::SelectOp::create(
              b, loc, any,
              arith::DivFOp::create(b, loc, f32Constant(b, loc, 1), rowSum),
              zeroF);
          for (int64_t n = 0; n < outputTiles; ++n) {
            Value pair = arith::TruncFOp::create(
                b, loc, VectorType::get({2}, kn.element),
                pairAt(b, loc, n, inverse));
            vector::StoreOp::create(
                b, loc, pair, frame.out,
                ValueRange{rows.batch, row.head, row.query,
                           ib.add(ib.c(8 * n), firstColumn)});
          }
        });
      }
  }

  int64_t rows, keys, chunks, multiprocessors;
};

} // namespace

void mlir::attn::populateTensorCoreKernelPatterns(RewritePatternSet &patterns,
                                                  int64_t queryTile,
                                                  int64_t keyTile,
                                                  int64_t chunks,
                                                  int64_t multiprocessors) {
  patterns.add<TensorCoreKernel>(patterns.getContext(), queryTile, keyTile,
                                 chunks, multiprocessors);
}
