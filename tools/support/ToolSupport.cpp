//===- ToolSupport.cpp - what every attn tool does alike ------------------===//

#include "ToolSupport.h"
#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Support/DidYouMean.h"
#include "attn/Version.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/AsmParser/AsmParserState.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>

using namespace llvm;

namespace mlir::attn::tools {

LibraryOptions LibraryOptions::current() {
  LibraryOptions options;
  for (auto &entry : cl::getRegisteredOptions())
    options.names.insert(entry.first);
  return options;
}

bool asksForShortHelp(int argc, char **argv) {
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    StringRef arg = StringRef(argv[i]).ltrim('-');
    if (arg.starts_with("help-hidden") || arg.starts_with("help-list-hidden"))
      return false;
    help |= arg == "help" || arg == "h" || arg == "help-list";
  }
  return help;
}

static void printVersion(raw_ostream &os) {
  os << "attn " ATTN_VERSION "\n"
     << "  built with LLVM and MLIR " LLVM_VERSION_STRING "\n"
     << "  default target: " << sys::getDefaultTargetTriple() << "\n"
     << "  host CPU: " << sys::getHostCPUName() << "\n";
}

void parseCommandLine(int argc, char **argv, StringRef overview,
                      ArrayRef<const cl::OptionCategory *> categories,
                      const LibraryOptions &before) {
  // --help and --version are in the category of the "help" option.
  auto &options = cl::getRegisteredOptions();
  auto help = options.find("help");
  const cl::OptionCategory *generic =
      help == options.end() ? nullptr : help->second->Categories.front();
  for (auto &[name, option] : options) {
    bool shown = !before.contains(name) ||
                 any_of(option->Categories, [&](cl::OptionCategory *c) {
                   return c == generic || is_contained(categories, c);
                 });
    if (!shown && option->getOptionHiddenFlag() == cl::NotHidden)
      option->setHiddenFlag(cl::Hidden);
  }
  cl::SetVersionPrinter(printVersion);
  if (!cl::ParseCommandLineOptions(argc, argv, overview, &errs()))
    std::exit(kError);
  // LLVM lets the last of several occurrences of an option win; a tool's
  // option given twice is more likely a mistake than a wish (lists, such as
  // attn-run's --shape, are meant to repeat).
  for (auto &[name, option] : options) {
    bool single = option->getNumOccurrencesFlag() == cl::Optional ||
                  option->getNumOccurrencesFlag() == cl::Required;
    if (single && option->getNumOccurrences() > 1 &&
        any_of(option->Categories, [&](cl::OptionCategory *c) {
          return is_contained(categories, c);
        })) {
      errs() << sys::path::filename(argv[0]) << ": "
             << (name.empty()         ? "the input"
                 : name.size() == 1 ? "-" + name.str()
                                      : "--" + name.str())
             << " is given " << option->getNumOccurrences()
             << " times; give it once\n";
      std::exit(kError);
    }
  }
}

void checkTargetOptions(StringRef tool, StringRef cpu, StringRef features) {
  if (cpu == "help" || features == "help") {
    printCPUsAndFeatures(outs());
    std::exit(kSuccess);
  }
  if (std::optional<std::string> wrong = checkCPU(cpu, "")) {
    errs() << tool << ": --cpu=" << cpu << ": " << *wrong << "\n";
    std::exit(kError);
  }
  if (std::optional<std::string> wrong = checkCPU("host", features)) {
    errs() << tool << ": --mattr=" << features << ": " << *wrong << "\n";
    std::exit(kError);
  }
}

void checkChoice(StringRef tool, const cl::opt<std::string> &option,
                 ArrayRef<StringLiteral> choices) {
  if (is_contained(choices, StringRef(option.getValue())))
    return;
  SmallVector<StringRef> names(choices.begin(), choices.end());
  std::string list;
  for (auto [i, name] : enumerate(names))
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + name.str();
  errs() << tool << ": --" << option.ArgStr << "=" << option.getValue()
         << ": it is " << list << didYouMean(option.getValue(), names)
         << "\n";
  std::exit(kError);
}

InputModule::InputModule(mlir::MLIRContext &context)
    : context(context),
      handler(std::make_unique<mlir::SourceMgrDiagnosticHandler>(sourceMgr,
                                                                 &context)) {
  // A diagnostic points at its source line; the op's generic form after
  // it (a whole function, for a pass's error) would bury it.
  context.printOpOnDiagnostic(false);
  // Registered last, this handler sees each diagnostic first: a repeat of
  // the one before is consumed, anything else goes on to the printer.
  repeats = std::make_unique<mlir::ScopedDiagnosticHandler>(
      &context, [this](mlir::Diagnostic &diagnostic) {
        std::string key;
        llvm::raw_string_ostream(key)
            << diagnostic.getLocation() << ": " << diagnostic;
        if (key == last)
          return mlir::success();
        last = std::move(key);
        return mlir::failure();
      });
}

InputModule::~InputModule() = default;

mlir::OwningOpRef<mlir::ModuleOp> InputModule::parse(StringRef path) {
  std::string error;
  std::unique_ptr<MemoryBuffer> file = mlir::openInputFile(path, &error);
  if (!file) {
    WithColor::error() << error << "\n";
    return nullptr;
  }
  unsigned buffer = sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
  mlir::Block parsed;
  mlir::ParserConfig config(&context);
  mlir::AsmParserState state;
  if (failed(mlir::parseAsmSourceFile(sourceMgr, &parsed, config, &state)))
    return nullptr;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::detail::constructContainerOpForParserIfNecessary<mlir::ModuleOp>(
          &parsed, &context,
          mlir::FileLineColLoc::get(
              &context, sourceMgr.getMemoryBuffer(buffer)->getBufferIdentifier(),
              1, 1));
  if (!module)
    return nullptr;
  // The names the arguments of each function had in the source (%x), which
  // the signature gives an argument that plays no role in an attn op
  // (attn-export-signature), instead of arg0.
  module->walk([&](mlir::func::FuncOp func) {
    if (func.isExternal())
      return;
    const mlir::AsmParserState::BlockDefinition *entry =
        state.getBlockDef(&func.getBody().front());
    if (!entry)
      return;
    for (auto [i, definition] : llvm::enumerate(entry->arguments)) {
      StringRef name(definition.loc.Start.getPointer(),
                     definition.loc.End.getPointer() -
                         definition.loc.Start.getPointer());
      if (name.consume_front("%") && !name.empty() &&
          i < func.getNumArguments())
        func.setArgAttr(i, mlir::attn::kSourceNameAttr,
                        mlir::StringAttr::get(&context, name));
    }
  });
  return module;
}

} // namespace mlir::attn::tools
