//===- DidYouMean.h - the valid name closest to a typo ----------*- C++ -*-===//
//
// Diagnostics of a name that is none of the valid ones (a mask, a clause,
// a parameter, a CPU, a target feature) suggest the closest valid name.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_DIDYOUMEAN_H
#define ATTN_SUPPORT_DIDYOUMEAN_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir::attn {

/// " (did you mean `name`?)" for the name of `names` a typo away from
/// `word`, or "" when none is. A typo is an edit or two away (a swapped
/// pair of letters is two): one for a name of fewer than 4 letters, and
/// one more per 8 letters of a longer one.
inline std::string didYouMean(llvm::StringRef word,
                              llvm::ArrayRef<llvm::StringRef> names) {
  llvm::StringRef best;
  unsigned bestDistance = ~0u;
  for (llvm::StringRef name : names) {
    unsigned allowed = (name.size() < 4 ? 1 : 2) + name.size() / 8;
    unsigned distance = word.edit_distance(name, /*AllowReplacements=*/true,
                                           /*MaxEditDistance=*/allowed);
    if (distance <= allowed && distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best.empty() ? "" : " (did you mean `" + best.str() + "`?)";
}

} // namespace mlir::attn

#endif // ATTN_SUPPORT_DIDYOUMEAN_H
