//===- Syntax.h - how ops and masks are written -----------------*- C++ -*-===//
//
// What the parsers of the ops' clauses (AttnOps.cpp), of the masks
// (MaskSyntax.cpp) and of the dialect's attributes (AttnAttrs.cpp) share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_IR_SYNTAX_H
#define ATTN_LIB_DIALECT_ATTN_IR_SYNTAX_H

#include "attn/Support/DidYouMean.h"

#include "mlir/IR/OpImplementation.h"

#include <string>

namespace mlir::attn {

/// "a, b and c" of `items`, with `lastSeparator` before the last.
std::string listOf(ArrayRef<std::string> items, StringRef lastSeparator);

/// One of `keywords`, as its index; a diagnostic naming `what` and the
/// keywords otherwise.
FailureOr<int64_t> parseKeywordOf(AsmParser &parser, StringRef what,
                                  ArrayRef<StringRef> keywords);

/// The diagnostic for `#attn.<name>` that names no attribute: the masks'
/// names, and the closest one.
void emitUnknownAttribute(AsmParser &parser, SMLoc loc, StringRef name);

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_IR_SYNTAX_H
