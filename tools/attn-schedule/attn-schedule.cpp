//===- attn-schedule.cpp - the block schedule of an attention -------------===//
//
// Which key tiles each query tile of an attn.attention visits, computed by
// the lowerings' own schedule arithmetic for the given sizes:
//
//   attn-schedule examples/10_sliding_window_attention.mlir \
//       --queries 4096 --keys 4096 --svg window.svg
//
// prints the tiles visited (full and partial) and skipped, the most tiles one
// query tile visits, and the (query, key) pairs the visited tiles compute
// against those the mask allows; --svg draws it (with --elements, the
// allowed pairs too, for small sizes). A layer (attn.multi_head) is
// decomposed first; --index picks among several attentions.
//
//===----------------------------------------------------------------------===//

#include "ToolSupport.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"
#include "attn/Target/Schedule.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace tools = mlir::attn::tools;
namespace cl = llvm::cl;

static cl::OptionCategory category("attn-schedule options");
static cl::opt<std::string> inputFile(cl::Positional, cl::cat(category),
                                      cl::desc("<module.mlir>"), cl::Required);
static cl::opt<std::string> entry("entry", cl::cat(category),
                                  cl::desc("Function (default: the only one)"));
static cl::opt<unsigned>
    attentionIndex("index", cl::cat(category),
                   cl::desc("Which attention of the function"), cl::init(0));
static cl::opt<int64_t> queries("queries", cl::cat(category), cl::Required,
                                cl::desc("N, the number of query rows"));
static cl::opt<int64_t> keys("keys", cl::cat(category), cl::Required,
                             cl::desc("S, the number of keys"));
static cl::opt<int64_t>
    valid("valid", cl::cat(category),
          cl::desc("Valid keys of the batch row (default: S)"), cl::init(-1));
static cl::opt<int64_t> head("head", cl::cat(category), cl::desc("Query head"),
                             cl::init(0));
static cl::opt<int64_t> queryTile("query-tile", cl::cat(category),
                                  cl::desc("Query rows per tile"),
                                  cl::init(64));
static cl::opt<int64_t> keyTile("key-tile", cl::cat(category),
                                cl::desc("Keys per tile"), cl::init(64));
static cl::opt<std::string> svgFile("svg", cl::cat(category),
                                    cl::desc("Draw the schedule into FILE"));
static cl::opt<bool>
    elements("elements", cl::cat(category),
             cl::desc("Draw the allowed pairs too (N * S <= 65536)"));

/// The counts of one schedule.
static void report(const attn::TileSchedule &s, StringRef indent) {
  llvm::outs() << indent << "N = " << s.numQueries << ", S = " << s.numKeys
               << ", valid keys " << s.validKeys << ", head " << s.head
               << ", tiles " << s.queryTile << " x " << s.keyTile << "\n"
               << indent << "tiles: " << s.visited() << " visited ("
               << s.count(attn::TileSchedule::Full) << " full, "
               << s.count(attn::TileSchedule::Partial) << " partial), "
               << s.count(attn::TileSchedule::Skipped) << " skipped, of "
               << s.queryTiles * s.keyTiles << "\n"
               << indent << "most tiles visited by one query tile: "
               << s.maxVisitedPerQueryTile() << "\n"
               << indent << "pairs computed: " << s.pairsComputed()
               << " of N x S = " << s.numQueries * s.numKeys << "\n";
}

static int fail(const Twine &message) {
  llvm::errs() << "attn-schedule: " << message << "\n";
  return tools::kError;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  tools::parseCommandLine(argc, argv, "attn block schedule\n",
                                {&category});
  std::unique_ptr<MLIRContext> context = attn::createCompilerContext();
  tools::InputModule input(*context);
  OwningOpRef<ModuleOp> module = input.parse(inputFile);
  if (!module)
    return tools::kError;
  PassManager pm(context.get());
  pm.addNestedPass<func::FuncOp>(attn::createAttnDecomposeLayersPass());
  if (failed(pm.run(*module)))
    return fail("cannot decompose the layers of " + inputFile);

  SmallVector<func::FuncOp> functions;
  for (auto func : module->getOps<func::FuncOp>())
    if (!func.isExternal() && (entry.empty() || func.getSymName() == entry))
      functions.push_back(func);
  if (functions.size() != 1)
    return fail(entry.empty() ? "choose a function with --entry"
                              : "no function '" + entry + "'");
  SmallVector<attn::AttentionOp> attentions;
  functions.front().walk(
      [&](attn::AttentionOp op) { attentions.push_back(op); });
  if (attentionIndex >= attentions.size())
    return fail("the function has " + Twine(attentions.size()) +
                " attentions; --index " + Twine(attentionIndex) +
                " is out of range");
  attn::AttentionOp op = attentions[attentionIndex];
  if (queries < 0 || keys < 0)
    return fail("--queries and --keys must be non-negative");
  if (valid > keys)
    return fail("--valid " + Twine(valid.getValue()) +
                " is more than the keys, S = " + Twine(keys.getValue()));
  int64_t validKeys = valid < 0 ? keys : valid;

  MLIRContext *ctx = context.get();
  // The mask with its defaults (a sparse length of ceil(sqrt(S))) resolved
  // for the S asked for.
  attn::MaskAttrInterface mask;
  if (attn::MaskAttrInterface declared = op.getMaskAttr()) {
    FailureOr<Attribute> resolved = declared.resolveFor(keys);
    if (failed(resolved))
      return fail("the mask cannot be resolved for S = " + Twine(keys));
    mask = cast<attn::MaskAttrInterface>(*resolved);
  }
  std::string maskText;
  if (op.getMaskAttr())
    llvm::raw_string_ostream(maskText) << op.getMaskAttr();
  else
    maskText = "none";
  llvm::outs() << "mask: " << maskText << "\n";

  std::string error;
  FailureOr<attn::TileSchedule> schedule = attn::evaluateSchedule(
      ctx, mask, queryTile, keyTile, queries, keys, validKeys, head, error);
  if (failed(schedule))
    return fail(error);
  report(*schedule, "");

  // Masks that leave no tile empty are lowered as pieces dense in tiles
  // (attn-decompose-sparse-masks): the tiles actually visited.
  FailureOr<attn::ScheduleTotals> lowered = attn::evaluateLoweredSchedule(
      ctx, op.getMaskAttr(), queryTile, keyTile, queries, keys, validKeys, head,
      op.getNumHeads(), op.getNumKVHeads(), error);
  if (failed(lowered))
    return fail(error);
  if (lowered->pieces.size() > 1 ||
      lowered->pieces.front().find("original order") != 0) {
    llvm::outs() << "lowered as " << lowered->pieces.size() << " piece"
                 << (lowered->pieces.size() > 1 ? "s" : "") << ":\n";
    for (const std::string &piece : lowered->pieces)
      llvm::outs() << "  " << piece << "\n";
    llvm::outs() << "lowered: " << lowered->tiles << " tiles visited ("
                 << lowered->fullTiles << " full, "
                 << lowered->tiles - lowered->fullTiles
                 << " partial), pairs computed " << lowered->pairsComputed
                 << "\n";
  }

  const attn::TileSchedule &s = *schedule;
  std::vector<uint8_t> allowed;
  bool haveElements = false;
  if (s.numQueries * s.numKeys <= (int64_t(1) << 26)) {
    FailureOr<std::vector<uint8_t>> cells = attn::evaluateMaskElements(
        ctx, mask, queries, keys, validKeys, head, error);
    if (failed(cells))
      return fail(error);
    allowed = std::move(*cells);
    allowed.resize(size_t(s.numQueries * s.numKeys));
    haveElements = true;
    int64_t attended = std::count(allowed.begin(), allowed.end(), 1);
    llvm::outs() << "pairs the mask allows: " << attended << "\n";
  }

  if (!svgFile.empty()) {
    if (elements && (!haveElements || s.numQueries * s.numKeys > 65536))
      return fail("--elements draws at most N * S = 65536 pairs");
    if (s.queryTiles * s.keyTiles > attn::kMaxDrawnCells)
      return fail("--svg draws at most " + Twine(attn::kMaxDrawnCells) +
                  " tiles (a rectangle each), not " +
                  Twine(s.queryTiles * s.keyTiles) + "; take larger tiles");
    std::error_code ec;
    llvm::raw_fd_ostream out(svgFile, ec);
    if (ec)
      return fail("cannot write " + svgFile + ": " + ec.message());
    out << attn::renderScheduleSVG(s, elements ? &allowed : nullptr, maskText);
  }
  return tools::kSuccess;
}
