//===- ToolSupport.h - what every attn tool does alike ----------*- C++ -*-===//
//
// The command line, the version, the diagnostics and the exit status of
// attn-opt, attn-translate, attn-run, attn-schedule and attn-bench, so that
// the tools behave alike:
//
//   exit 0  success
//   exit 1  a check found wrong values (attn-run --check beyond its
//           tolerance); nothing else uses it
//   exit 2  an error: a bad option, IR that does not parse or verify, a
//           lowering that fails, a runtime status, a file that cannot be
//           read or written
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_TOOLSUPPORT_H
#define ATTN_TOOLS_TOOLSUPPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>

namespace mlir {
class MLIRContext;
class ScopedDiagnosticHandler;
class SourceMgrDiagnosticHandler;
} // namespace mlir

namespace mlir::attn::tools {

enum ExitCode : int { kSuccess = 0, kCheckFailed = 1, kError = 2 };

/// The options registered so far: when taken first in main, those of the
/// libraries (the code generators' flags of every LLVM target, mostly) and
/// the tool's own.
class LibraryOptions {
public:
  static LibraryOptions current();
  bool contains(llvm::StringRef name) const { return names.contains(name); }

private:
  llvm::StringSet<> names;
};

/// Whether the command line asks for --help (or -h) but not for the hidden
/// options: a tool may then leave out what only --help-hidden lists.
bool asksForShortHelp(int argc, char **argv);

/// Parses the command line. --help lists the options of `categories`, and
/// those registered after `before` was taken (mlir-opt's, for attn-opt);
/// --help-hidden lists every option; --version prints attn's version and
/// its LLVM's; a bad option exits with kError (LLVM's parser would exit
/// with 1).
void parseCommandLine(int argc, char **argv, llvm::StringRef overview,
                      llvm::ArrayRef<const llvm::cl::OptionCategory *>
                          categories,
                      const LibraryOptions &before = LibraryOptions::current());

/// --cpu and --mattr of a tool compiling for this machine's architecture:
/// "help" in either prints the CPUs and features LLVM knows and exits with
/// kSuccess; a name LLVM does not know exits with kError, naming the option
/// and the closest valid name.
void checkTargetOptions(llvm::StringRef tool, llvm::StringRef cpu,
                        llvm::StringRef features);

/// The values of the tools' --strategy and --linear-form.
inline constexpr llvm::StringLiteral kStrategies[] = {"auto", "flash",
                                                      "materialized", "decode"};
inline constexpr llvm::StringLiteral kLinearForms[] = {"auto", "parallel",
                                                       "chunked", "recurrent"};

/// `option`'s value must be one of `choices`: otherwise exits with kError,
/// naming them and the closest.
void checkChoice(llvm::StringRef tool, const llvm::cl::opt<std::string> &option,
                 llvm::ArrayRef<llvm::StringLiteral> choices);

/// A tool's input module. While it lives, every diagnostic of the context
/// (parse errors, verifier errors, a pass's errors during a lowering) is
/// printed as attn-opt prints it: file:line:column, the source line and a
/// caret under the column; a diagnostic that repeats the one before it (the
/// parser lexes a nested attribute once per level: an invalid character in
/// a mask deep in a union is found again at each) is printed once.
class InputModule {
public:
  explicit InputModule(mlir::MLIRContext &context);
  ~InputModule();

  /// Parses `path` ("-" is standard input); null after printing why.
  mlir::OwningOpRef<mlir::ModuleOp> parse(llvm::StringRef path);

private:
  mlir::MLIRContext &context;
  llvm::SourceMgr sourceMgr;
  std::unique_ptr<mlir::SourceMgrDiagnosticHandler> handler;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> repeats;
  std::string last;
};

} // namespace mlir::attn::tools

#endif // ATTN_TOOLS_TOOLSUPPORT_H
