//===- mask_fuzzer.cpp - libFuzzer target of the attn dialect's parsers --===//
//
// Any text as an attribute of the attn dialect (the masks: their names,
// parameters, nesting) and as the clauses of an attn.attention op (whose
// parsers take masks, key lengths and scales in any order), then verified:
// a diagnostic or an op, never a crash, and never a diagnostic repeated at
// every level of a nest (see below).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Parser/Parser.h"

#include <cstdlib>
#include <set>
#include <string>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    DialectRegistry registry;
    registry.insert<attn::AttnDialect, func::FuncDialect,
                    tensor::TensorDialect>();
    auto *ctx = new MLIRContext(registry);
    ctx->loadAllAvailableDialects();
    ctx->disableMultithreading();
    return ctx;
  }();
  std::string text(reinterpret_cast<const char *>(data), size);
  // The errors, by location and message: the parser lexes a nested
  // attribute once per level, so a lexer error may repeat (the tools print
  // it once), and MLIR's generic parser may add errors of its own after
  // ours (trailing characters, an invalid one); a few, whatever the nesting.
  // A failed mask deep in a union reported again at every enclosing level,
  // up to the 64 levels masks may nest (it took seconds and megabytes), is
  // what this catches.
  std::set<std::string> errors;
  ScopedDiagnosticHandler count(context, [&](Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == DiagnosticSeverity::Error) {
      std::string key;
      llvm::raw_string_ostream(key) << diagnostic.getLocation() << diagnostic;
      errors.insert(key);
    }
    return success();
  });

  // As an attribute: `#attn.` and the text.
  Attribute attr = parseAttribute("#attn." + text, context);
  constexpr size_t kFewErrors = 8;
  if (!attr && errors.size() > kFewErrors) {
    for (const std::string &error : errors)
      llvm::errs() << "error: " << error << "\n";
    std::abort();
  }

  // As the clauses of an attention.
  std::string module =
      "func.func @f(%q: tensor<1x2x8x16xf32>, %l: tensor<1xi32>) -> "
      "tensor<1x2x8x16xf32> {\n  %o = attn.attention %q, %q, %q " +
      text +
      " : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, "
      "tensor<1x2x8x16xf32>, tensor<1xi32>) -> tensor<1x2x8x16xf32>\n"
      "  return %o : tensor<1x2x8x16xf32>\n}\n";
  OwningOpRef<ModuleOp> parsed =
      parseSourceString<ModuleOp>(module, ParserConfig(context));
  if (parsed)
    (void)verify(*parsed);
  return 0;
}
