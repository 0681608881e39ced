//===- GPUKernel.cpp - what the two attention kernels share ---------------===//

#include "GPUKernel.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/SoftmaxTile.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernel;

/// A memref of `type`'s shape and element type whose strides are dynamic,
/// but for the innermost one with UnitStrideRows.
static MemRefType operandBufferType(RankedTensorType type,
                                    OperandLayout layout) {
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  if (layout == OperandLayout::UnitStrideRows)
    strides.back() = 1;
  auto stridedLayout =
      StridedLayoutAttr::get(type.getContext(), ShapedType::kDynamic, strides);
  return MemRefType::get(type.getShape(), type.getElementType(),
                         stridedLayout);
}

Value gpu_kernel::operandBuffer(OpBuilder &b, Location loc, Value tensor,
                               OperandLayout layout) {
  return bufferization::ToBufferOp::create(
      b, loc,
      operandBufferType(cast<RankedTensorType>(tensor.getType()), layout),
      tensor, /*readOnly=*/true);
}

/// How many query heads a block's rows span: all of a K/V head's, unless
/// the mask tells heads apart (their rows would see different key tiles).
static int64_t packedHeads(AttentionOp op) {
  return splitsHeads(op.getMaskAttr()) ? 1
                                       : op.getNumHeads() / op.getNumKVHeads();
}

/// The result (B, H, N, Dv) and the lse (B, H, N); B and N may be dynamic.
static void allocateResults(OpBuilder &b, Location loc, KernelFrame &frame) {
  auto resultType = cast<RankedTensorType>(frame.op.getResult().getType());
  SmallVector<Value> dynamicSizes;
  if (resultType.isDynamicDim(0))
    dynamicSizes.push_back(frame.batch);
  if (resultType.isDynamicDim(2))
    dynamicSizes.push_back(frame.numQueries);
  frame.out = memref::AllocOp::create(
      b, loc,
      MemRefType::get(resultType.getShape(), resultType.getElementType()),
      dynamicSizes);
  if (Value lse = frame.op.getLse()) {
    auto lseType = cast<RankedTensorType>(lse.getType());
    frame.lse = memref::AllocOp::create(
        b, loc, MemRefType::get(lseType.getShape(), lseType.getElementType()),
        dynamicSizes);
  }
}

/// The chunks' states for mergeSplitKPartials (f32, N static).
static void allocatePartials(OpBuilder &b, Location loc, KernelFrame &frame) {
  AttentionOp op = frame.op;
  int64_t rows = op.getNumHeads() / op.getNumKVHeads() *
                 cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
  SmallVector<int64_t> shape = {ShapedType::kDynamic, op.getNumKVHeads(),
                                ShapedType::kDynamic, rows};
  Type f32 = b.getF32Type();
  SmallVector<Value> sizes = {frame.batch, frame.blocksX};
  frame.rowMax =
      memref::AllocOp::create(b, loc, MemRefType::get(shape, f32), sizes);
  frame.rowSum =
      memref::AllocOp::create(b, loc, MemRefType::get(shape, f32), sizes);
  shape.push_back(frame.valueDim);
  frame.partialAcc =
      memref::AllocOp::create(b, loc, MemRefType::get(shape, f32), sizes);
}

KernelFrame gpu_kernel::buildKernelFrame(PatternRewriter &rewriter,
                                         AttentionOp op, OperandLayout layout,
                                         int64_t rowsPerBlock, int64_t chunks,
                                         int64_t multiprocessors) {
  Location loc = op.getLoc();
  IndexBuilder ib(rewriter, loc);
  KernelFrame frame;
  frame.op = op;
  frame.decode = !isMarkedFor(op, kFlashStrategy);
  frame.headDim =
      cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3);
  frame.valueDim =
      cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
  frame.pack = packedHeads(op);
  frame.q = operandBuffer(rewriter, loc, op.getQuery(), layout);
  frame.k = operandBuffer(rewriter, loc, op.getKey(), layout);
  frame.v = operandBuffer(rewriter, loc, op.getValue(), layout);
  if (Value keyLengths = op.getKeyLengths())
    frame.keyLengths =
        operandBuffer(rewriter, loc, keyLengths, OperandLayout::AnyStrides);
  frame.batch = ib.dim(frame.q, 0);
  frame.numQueries = ib.dim(frame.q, 2);
  if (frame.decode) {
    // Enough blocks to keep every multiprocessor busy, unless set.
    frame.blocksX =
        chunks > 0
            ? ib.c(chunks)
            : buildChunkCount(rewriter, loc, multiprocessors * kBlocksPerSM,
                              ib.mul(frame.batch, ib.c(op.getNumKVHeads())),
                              ib.dim(frame.k, 2));
    allocatePartials(rewriter, loc, frame);
  } else {
    frame.blocksX = ib.ceilDiv(ib.mul(frame.numQueries, ib.c(frame.pack)),
                               ib.c(rowsPerBlock));
    allocateResults(rewriter, loc, frame);
  }
  return frame;
}

void gpu_kernel::replaceWithKernelResults(PatternRewriter &rewriter,
                                          const KernelFrame &frame) {
  AttentionOp op = frame.op;
  Location loc = op.getLoc();
  auto asTensor = [&](Value buffer) -> Value {
    auto type = cast<MemRefType>(buffer.getType());
    return bufferization::ToTensorOp::create(
        rewriter, loc,
        RankedTensorType::get(type.getShape(), type.getElementType()), buffer,
        /*restrict=*/true, /*writable=*/true);
  };
  SmallVector<Value> results;
  if (frame.decode) {
    auto [out, lse] = mergeSplitKPartials(
        rewriter, loc, op,
        {asTensor(frame.rowMax), asTensor(frame.rowSum),
         asTensor(frame.partialAcc)});
    results = {out};
    if (op.getLse())
      results.push_back(lse);
  } else {
    results = {asTensor(frame.out)};
    if (op.getLse())
      results.push_back(asTensor(frame.lse));
  }
  rewriter.replaceOp(op, results);
}

LogicalResult gpu_kernel::checkDecodeFits(PatternRewriter &rewriter,
                                          AttentionOp op,
                                          int64_t rowsPerBlock) {
  bool decode = !isMarkedFor(op, kFlashStrategy);
  if (!decode || isDecodeShaped(op, rowsPerBlock))
    return success();
  return op.emitOpError("the decode kernel needs a static N whose g·N "
                        "rows fit one block of ")
         << rowsPerBlock
         << " query rows, and a mask that treats all heads alike";
}

BlockRows gpu_kernel::buildBlockRows(OpBuilder &b, Location loc,
                                     const KernelFrame &frame,
                                     gpu::LaunchOp launch, int64_t rowsPerBlock,
                                     int64_t keyTile) {
  IndexBuilder ib(b, loc);
  AttentionOp op = frame.op;
  BlockRows rows;
  // Decode: one tile of rows, and block x is the chunk.
  rows.tileIndex = frame.decode ? ib.c(0) : launch.getBlockIds().x;
  rows.headGroup = launch.getBlockIds().y;
  rows.batch = launch.getBlockIds().z;
  rows.numQueries = ib.dim(frame.q, 2);
  rows.numKeys = ib.dim(frame.k, 2);
  Value pack = ib.c(frame.pack);
  rows.firstPacked = ib.mul(rows.tileIndex, ib.c(rowsPerBlock));
  rows.firstHead = ib.mul(rows.headGroup, pack);
  rows.kvHead =
      ib.div(rows.firstHead, ib.c(op.getNumHeads() / op.getNumKVHeads()));
  // The block's queries: [p0 / G, ceil((p0 + rows) / G)) within N.
  rows.rowBegin = ib.div(rows.firstPacked, pack);
  rows.rowEnd =
      ib.min(ib.ceilDiv(ib.add(rows.firstPacked, ib.c(rowsPerBlock)), pack),
             rows.numQueries);

  // The valid keys of this batch row: clamp(len, 0, S).
  rows.validKeys = rows.numKeys;
  if (frame.keyLengths) {
    Value len = memref::LoadOp::create(b, loc, frame.keyLengths, rows.batch);
    rows.validKeys = buildValidKeys(b, loc, len, rows.numKeys);
  }

  // The key tiles the block's rows may see (uniform over the block, so every
  // thread takes part in every tile's loads and barriers).
  rows.tileRanges = buildVisitedKeyTiles(
      b, loc, op.getEffectiveMask(), rows.rowBegin, rows.rowEnd,
      rows.numQueries, rows.validKeys, rows.firstHead, keyTile);
  if (frame.decode)
    rows.tileRanges = cutToChunk(b, loc, rows.tileRanges,
                                 launch.getBlockIds().x, launch.getGridSize().x);
  return rows;
}

PackedRow gpu_kernel::unpackRow(OpBuilder &b, Location loc,
                                const KernelFrame &frame, const BlockRows &rows,
                                Value packed) {
  IndexBuilder ib(b, loc);
  // Packed row p = i G + g: query i of head firstHead + g.
  Value pack = ib.c(frame.pack);
  PackedRow row;
  row.query = ib.div(packed, pack);
  row.head = ib.add(rows.firstHead, ib.rem(packed, pack));
  row.exists = ib.lt(row.query, rows.numQueries);
  return row;
}

Value gpu_kernel::groupRowIndex(OpBuilder &b, Location loc,
                                const BlockRows &rows, const PackedRow &row) {
  IndexBuilder ib(b, loc);
  return ib.add(ib.mul(ib.sub(row.head, rows.firstHead), rows.numQueries),
                row.query);
}

Value gpu_kernel::toF32(OpBuilder &b, Location loc, Value x) {
  if (getElementTypeOrSelf(x.getType()).isF32())
    return x;
  Type f32 = b.getF32Type();
  if (auto vector = dyn_cast<VectorType>(x.getType()))
    f32 = vector.clone(f32);
  return arith::ExtFOp::create(b, loc, f32, x);
}

scf::ForOp
gpu_kernel::forEach(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
                    function_ref<void(OpBuilder &, Location, Value)> body) {
  return scf::ForOp::create(
      b, loc, lb, ub, step, ValueRange{},
      [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
        body(nb, l, iv);
        scf::YieldOp::create(nb, l);
      });
}

void gpu_kernel::ifThen(OpBuilder &b, Location loc, Value condition,
                        function_ref<void(OpBuilder &, Location)> body) {
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  body(b, loc);
}

void gpu_kernel::stageRows(OpBuilder &b, Location loc, Value source,
                           Value batch, Value head, Value first, Value limit,
                           Value tile, Value thread, int64_t threads,
                           std::optional<double> factor) {
  IndexBuilder ib(b, loc);
  ArrayRef<int64_t> shape = cast<MemRefType>(tile.getType()).getShape();
  int64_t width = shape[1];
  forEach(b, loc, thread, ib.c(shape[0] * width), ib.c(threads),
          [&](OpBuilder &nb, Location l, Value e) {
            IndexBuilder nib(nb, l);
            Value r = nib.div(e, nib.c(width)), d = nib.rem(e, nib.c(width));
            Value row = nib.add(first, r);
            auto inside = scf::IfOp::create(nb, l, TypeRange{nb.getF32Type()},
                                            nib.lt(row, limit),
                                            /*withElse=*/true);
            {
              OpBuilder::InsertionGuard guard(nb);
              nb.setInsertionPointToStart(inside.thenBlock());
              Value x = toF32(nb, l,
                              memref::LoadOp::create(
                                  nb, l, source, ValueRange{batch, head, row, d}));
              if (factor)
                x = arith::MulFOp::create(nb, l, x,
                                          f32Constant(nb, l, *factor));
              scf::YieldOp::create(nb, l, x);
              nb.setInsertionPointToStart(inside.elseBlock());
              scf::YieldOp::create(nb, l, f32Constant(nb, l, 0));
            }
            memref::StoreOp::create(nb, l, inside.getResult(0), tile,
                                    ValueRange{r, d});
          });
}
