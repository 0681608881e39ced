//===- Schedule.cpp - the block schedule of an attention, evaluated -------===//
//
// A small function is built with the lowerings' own schedule builders,
//
//   func @schedule(%n, %s, %valid, %head, %cells: memref<?x?xi8>)
//     for each query tile t: for key tile u in visited(t): cells[t][u] =
//       full(t, u) ? 2 : 1
//
// (and one evaluating the mask per element), compiled in-process and run.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/Schedule.h"

#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/SparseMasks.h"

#include "JitEngine.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/MemRefUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

using namespace mlir;
using namespace mlir::attn;

int64_t TileSchedule::count(Cell cell) const {
  return std::count(cells.begin(), cells.end(), static_cast<uint8_t>(cell));
}

int64_t TileSchedule::maxVisitedPerQueryTile() const {
  int64_t most = 0;
  for (int64_t q = 0; q < queryTiles; ++q) {
    int64_t row = 0;
    for (int64_t k = 0; k < keyTiles; ++k)
      row += at(q, k) != Skipped;
    most = std::max(most, row);
  }
  return most;
}

int64_t TileSchedule::pairsComputed() const {
  int64_t pairs = 0;
  for (int64_t q = 0; q < queryTiles; ++q)
    for (int64_t k = 0; k < keyTiles; ++k)
      if (at(q, k) != Skipped)
        pairs += std::min(queryTile, numQueries - q * queryTile) *
                 std::min(keyTile, numKeys - k * keyTile);
  return pairs;
}

namespace {

/// Builds the body of a grid function: stores into %cells from the sizes.
using CellBuilder =
    function_ref<void(OpBuilder &, Location, Value cells, ValueRange args)>;

/// Which grid function: the tile schedule or the mask's elements, for one
/// mask and tile shape in one context. Sizes are arguments, so one compiled
/// function serves every batch row, head parity and residue class.
using GridKey = std::tuple<MLIRContext *, int, const void *, int64_t, int64_t>;

/// Builds `func @eval(%n, %s, %valid, %head, %cells)` around `body` and
/// compiles it, once per key.
ExecutionEngine *compileGridFunction(MLIRContext *ctx, const GridKey &key,
                                     CellBuilder body, std::string &error) {
  // Kept for the life of the process and never destroyed: engines torn
  // down by static destructors after LLVM's own state fail at exit.
  static std::mutex mutex;
  static auto *compiled =
      new std::map<GridKey, std::unique_ptr<JitEngine>>();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = compiled->find(key); it != compiled->end())
    return &it->second->engine();

  OpBuilder b(ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  Type index = b.getIndexType();
  auto grid = MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                              b.getI8Type());
  auto func = func::FuncOp::create(
      b, loc, "eval",
      b.getFunctionType({index, index, index, index, grid}, {}));
  func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  body(b, loc, entry->getArgument(4), entry->getArguments().take_front(4));
  func::ReturnOp::create(b, loc);

  PassManager pm(ctx);
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (failed(pm.run(*module))) {
    error = "the schedule function did not lower";
    return nullptr;
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto jit = JitEngine::create(*module, ExecutionEngineOptions());
  if (!jit) {
    error = llvm::toString(jit.takeError());
    return nullptr;
  }
  return &((*compiled)[key] = std::move(*jit))->engine();
}

/// Runs a compiled grid function on a zeroed rows x cols grid.
FailureOr<std::vector<uint8_t>> runGridFunction(ExecutionEngine &engine,
                                                int64_t rows, int64_t cols,
                                                ArrayRef<int64_t> scalars,
                                                std::string &error) {
  std::vector<uint8_t> cells(static_cast<size_t>(rows * cols), 0);
  StridedMemRefType<uint8_t, 2> descriptor{
      cells.data(), cells.data(), 0, {rows, cols}, {cols, 1}};
  auto *descriptorPtr = &descriptor;
  int64_t a = scalars[0], c = scalars[1], d = scalars[2], e = scalars[3];
  SmallVector<void *> args = {&a, &c, &d, &e, &descriptorPtr};
  if (llvm::Error err = engine.invokePacked("_mlir_ciface_eval", args)) {
    error = llvm::toString(std::move(err));
    return failure();
  }
  return cells;
}

} // namespace

FailureOr<TileSchedule> mlir::attn::evaluateSchedule(
    MLIRContext *ctx, MaskAttrInterface mask, int64_t queryTile,
    int64_t keyTile, int64_t numQueries, int64_t numKeys, int64_t validKeys,
    int64_t head, std::string &error) {
  if (queryTile < 1 || keyTile < 1 || numQueries < 0 || numKeys < 0) {
    error = "tiles must be positive and sizes non-negative";
    return failure();
  }
  // N and S as the ops bound them; the grid of cells is evaluated in
  // memory, a byte a cell.
  if (numQueries > kMaxSize || numKeys > kMaxSize) {
    error = "N and S are at most " + std::to_string(kMaxSize) +
            " (2^31 - 1), as in the ops; got N = " +
            std::to_string(numQueries) + " and S = " + std::to_string(numKeys);
    return failure();
  }
  int64_t tiles = ((numQueries + queryTile - 1) / queryTile) *
                  ((numKeys + keyTile - 1) / keyTile);
  if (tiles > kMaxScheduleCells) {
    error = "the schedule of N = " + std::to_string(numQueries) +
            " and S = " + std::to_string(numKeys) + " in tiles of " +
            std::to_string(queryTile) + " x " + std::to_string(keyTile) +
            " has " + std::to_string(tiles) + " tiles, more than the " +
            std::to_string(kMaxScheduleCells) +
            " (2^26) evaluated at once; take larger tiles";
    return failure();
  }
  TileSchedule schedule;
  schedule.numQueries = numQueries;
  schedule.numKeys = numKeys;
  schedule.validKeys = std::clamp<int64_t>(validKeys, 0, numKeys);
  schedule.head = head;
  schedule.queryTile = queryTile;
  schedule.keyTile = keyTile;
  schedule.queryTiles = (numQueries + queryTile - 1) / queryTile;
  schedule.keyTiles = (numKeys + keyTile - 1) / keyTile;
  auto body = [&](OpBuilder &b, Location loc, Value cells, ValueRange args) {
    Value n = args[0], valid = args[2], headValue = args[3];
    IndexBuilder ib(b, loc);
    Value tiles = ib.ceilDiv(n, ib.c(queryTile));
    scf::ForOp::create(
        b, loc, ib.c(0), tiles, ib.c(1), ValueRange{},
        [&](OpBuilder &qb, Location l, Value t, ValueRange) {
          IndexBuilder qib(qb, l);
          Value rowBegin = qib.mul(t, qib.c(queryTile));
          Value rowEnd = qib.min(qib.add(rowBegin, qib.c(queryTile)), n);
          SmallVector<std::pair<Value, Value>> ranges = buildVisitedKeyTiles(
              qb, l, mask, rowBegin, rowEnd, n, valid, headValue, keyTile);
          buildKeyTileLoops(
              qb, l, ranges, ValueRange{},
              [&](OpBuilder &kb, Location kl, Value u, ValueRange) {
                IndexBuilder kib(kb, kl);
                Value colBegin = kib.mul(u, kib.c(keyTile));
                Value full =
                    buildKeyTileIsFull(kb, kl, mask, rowBegin, rowEnd, colBegin,
                                       keyTile, n, valid, headValue);
                Value cell = arith::SelectOp::create(
                    kb, kl, full,
                    arith::ConstantIntOp::create(kb, kl, kb.getI8Type(), 2),
                    arith::ConstantIntOp::create(kb, kl, kb.getI8Type(), 1));
                memref::StoreOp::create(kb, kl, cell, cells, ValueRange{t, u});
                return SmallVector<Value>();
              });
          scf::YieldOp::create(qb, l);
        });
  };
  ExecutionEngine *engine = compileGridFunction(
      ctx, GridKey{ctx, 0, mask.getAsOpaquePointer(), queryTile, keyTile}, body,
      error);
  if (!engine)
    return failure();
  FailureOr<std::vector<uint8_t>> cells =
      runGridFunction(*engine, std::max<int64_t>(schedule.queryTiles, 1),
                      std::max<int64_t>(schedule.keyTiles, 1),
                      {numQueries, numKeys, schedule.validKeys, head}, error);
  if (failed(cells))
    return failure();
  cells->resize(static_cast<size_t>(schedule.queryTiles * schedule.keyTiles));
  schedule.cells = std::move(*cells);
  return schedule;
}

FailureOr<std::vector<uint8_t>> mlir::attn::evaluateMaskElements(
    MLIRContext *ctx, MaskAttrInterface mask, int64_t numQueries,
    int64_t numKeys, int64_t validKeys, int64_t head, std::string &error) {
  auto body = [&](OpBuilder &b, Location loc, Value cells, ValueRange args) {
    Value n = args[0], s = args[1], valid = args[2], headValue = args[3];
    IndexBuilder ib(b, loc);
    scf::ForOp::create(
        b, loc, ib.c(0), n, ib.c(1), ValueRange{},
        [&](OpBuilder &rb, Location l, Value i, ValueRange) {
          scf::ForOp::create(
              rb, l, IndexBuilder(rb, l).c(0), s, IndexBuilder(rb, l).c(1),
              ValueRange{},
              [&](OpBuilder &cb, Location cl, Value j, ValueRange) {
                Value visible =
                    buildKeyIsVisible(cb, cl, mask, i, j, n, valid, headValue);
                Value cell =
                    arith::ExtUIOp::create(cb, cl, cb.getI8Type(), visible);
                memref::StoreOp::create(cb, cl, cell, cells, ValueRange{i, j});
                scf::YieldOp::create(cb, cl);
              });
          scf::YieldOp::create(rb, l);
        });
  };
  ExecutionEngine *engine = compileGridFunction(
      ctx, GridKey{ctx, 1, mask.getAsOpaquePointer(), 0, 0}, body, error);
  if (!engine)
    return failure();
  return runGridFunction(
      *engine, std::max<int64_t>(numQueries, 1), std::max<int64_t>(numKeys, 1),
      {numQueries, numKeys, std::clamp<int64_t>(validKeys, 0, numKeys), head},
      error);
}

FailureOr<ScheduleTotals> mlir::attn::evaluateLoweredSchedule(
    MLIRContext *ctx, MaskAttrInterface declaredMask, int64_t queryTile,
    int64_t keyTile, int64_t numQueries, int64_t numKeys, int64_t validKeys,
    int64_t head, int64_t numHeads, int64_t numKVHeads, std::string &error) {
  MaskAttrInterface mask;
  if (declaredMask) {
    FailureOr<Attribute> resolved = declaredMask.resolveFor(numKeys);
    if (failed(resolved)) {
      error = "the mask cannot be resolved for S = " + std::to_string(numKeys);
      return failure();
    }
    mask = cast<MaskAttrInterface>(*resolved);
  }
  // The pieces attn-decompose-sparse-masks cuts the op into, or the op.
  SmallVector<MaskPiece> pieces =
      decomposeSparseMask(mask, numHeads, numKVHeads, numKeys);
  if (pieces.empty()) {
    pieces.emplace_back();
    pieces.back().mask = mask;
  }
  ScheduleTotals totals;
  for (const MaskPiece &piece : pieces) {
    if (!piece.hasHead(head))
      continue;
    std::string text;
    llvm::raw_string_ostream os(text);
    if (piece.layout == MaskPiece::Layout::ResidueClasses)
      os << piece.modulus << " residue classes";
    else if (piece.layout == MaskPiece::Layout::SummaryKeys)
      os << "summary keys (" << piece.summary << " of " << piece.modulus << ")";
    else
      os << "original order";
    os << ", mask ";
    if (piece.mask)
      os << piece.mask;
    else
      os << "none";
    totals.pieces.push_back(text);
    int64_t rows = piece.rowsOf(numQueries), keys = piece.keysOf(numKeys);
    if (rows == 0 || keys == 0)
      continue;
    for (int64_t r = 0; r < piece.classes(); ++r) {
      FailureOr<TileSchedule> one = evaluateSchedule(
          ctx, piece.mask, queryTile, keyTile, rows, keys,
          piece.validKeysOf(validKeys, r), piece.headIndex(head), error);
      if (failed(one))
        return failure();
      totals.tiles += one->visited();
      totals.fullTiles += one->count(TileSchedule::Full);
      totals.pairsComputed += one->pairsComputed();
    }
  }
  return totals;
}

std::string mlir::attn::renderScheduleSVG(const TileSchedule &schedule,
                                          const std::vector<uint8_t> *elements,
                                          const std::string &title) {
  // One unit per key and query: tiles are drawn at their true extent.
  double unit =
      std::clamp(720.0 / std::max<int64_t>(schedule.numKeys, 1), 0.05, 12.0);
  double width = schedule.numKeys * unit, height = schedule.numQueries * unit;
  double top = 40;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width + 20
      << "\" height=\"" << height + top + 30 << "\" font-family=\"sans-serif\""
      << " font-size=\"12\">\n";
  std::string escaped;
  for (char c : title)
    escaped += c == '<'   ? "&lt;"
               : c == '>' ? "&gt;"
               : c == '&' ? "&amp;"
                          : std::string(1, c);
  svg << "<text x=\"10\" y=\"16\">" << escaped << "</text>\n";
  svg << "<text x=\"10\" y=\"32\">N = " << schedule.numQueries
      << ", S = " << schedule.numKeys << ", tiles " << schedule.queryTile
      << " x " << schedule.keyTile << ": " << schedule.count(TileSchedule::Full)
      << " full, " << schedule.count(TileSchedule::Partial) << " partial, "
      << schedule.count(TileSchedule::Skipped) << " skipped</text>\n";
  svg << "<g transform=\"translate(10," << top << ")\">\n";
  const char *fill[] = {"#f4f4f4", "#f5c26b", "#4f8bc9"};
  for (int64_t q = 0; q < schedule.queryTiles; ++q)
    for (int64_t k = 0; k < schedule.keyTiles; ++k) {
      int64_t rows = std::min(schedule.queryTile,
                              schedule.numQueries - q * schedule.queryTile);
      int64_t cols =
          std::min(schedule.keyTile, schedule.numKeys - k * schedule.keyTile);
      svg << "<rect x=\"" << k * schedule.keyTile * unit << "\" y=\""
          << q * schedule.queryTile * unit << "\" width=\"" << cols * unit
          << "\" height=\"" << rows * unit << "\" fill=\""
          << fill[schedule.at(q, k)] << "\" stroke=\"#ffffff\" "
          << "stroke-width=\"" << std::min(1.0, unit / 2) << "\"/>\n";
    }
  if (elements)
    for (int64_t i = 0; i < schedule.numQueries; ++i)
      for (int64_t j = 0; j < schedule.numKeys; ++j)
        if ((*elements)[i * schedule.numKeys + j])
          svg << "<rect x=\"" << j * unit + unit * 0.2 << "\" y=\""
              << i * unit + unit * 0.2 << "\" width=\"" << unit * 0.6
              << "\" height=\"" << unit * 0.6 << "\" fill=\"#1d1d1d\"/>\n";
  svg << "</g>\n";
  svg << "<text x=\"10\" y=\"" << height + top + 20
      << "\">blue: full (no mask), orange: partial (masked), grey: skipped"
      << (elements ? "; dots: pairs the mask allows" : "") << "</text>\n";
  svg << "</svg>\n";
  return svg.str();
}
