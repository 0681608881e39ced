//===- AttnInterfaces.td - interfaces of the attn dialect --*- tablegen -*-===//

#ifndef ATTN_INTERFACES_TD
#define ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_MaskAttrInterface : AttrInterface<"MaskAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A structured attention mask: a rule that says, by index arithmetic alone,
    whether query row `i` may attend to key column `j`. Masks never exist as
    N x S tensors; lowerings ask the attribute for the predicate (and, in the
    tiled lowerings, for the tiles a query tile must visit).

    Positions: query row `i` of `N` rows sits at key position `i` when the
    mask is aligned top-left, and at `L - N + i` when it is aligned
    bottom-right, where `L` is the number of valid keys of the batch row (its
    key length, or S). Bottom-right is what decoding with a cache needs: the
    last query is the newest token and sees every valid key.

    Some patterns differ between heads (the Sparse Transformer's split of
    its two patterns over the heads): every method takes the query head.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the i1 predicate "row may attend to col" from index values: the
        query row, the key column, the number of query rows and the number of
        valid keys of this batch row, and the query head.
      }], "::mlir::Value", "buildIsVisible",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$row, "::mlir::Value":$col,
           "::mlir::Value":$numQueries, "::mlir::Value":$numKeys,
           "::mlir::Value":$head)>,
    InterfaceMethod<[{
        Builds the half-open range [begin, end) of key columns that any of the
        query rows [rowBegin, rowEnd) (not empty) may see. The bounds may fall
        outside [0, numKeys); the caller clamps them. A tiled lowering visits
        only the key tiles that meet this range.
      }], "std::pair<::mlir::Value, ::mlir::Value>", "buildKeyRange",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$rowBegin, "::mlir::Value":$rowEnd,
           "::mlir::Value":$numQueries, "::mlir::Value":$numKeys,
           "::mlir::Value":$head)>,
    InterfaceMethod<[{
        Builds the i1 "every row of [rowBegin, rowEnd) may see every column of
        [colBegin, colEnd)" (both not empty): such a tile needs no mask.
      }], "::mlir::Value", "buildIsFullyVisible",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$rowBegin, "::mlir::Value":$rowEnd,
           "::mlir::Value":$colBegin, "::mlir::Value":$colEnd,
           "::mlir::Value":$numQueries, "::mlir::Value":$numKeys,
           "::mlir::Value":$head)>,
    InterfaceMethod<[{
        This mask with every parameter left to its default ("auto") resolved
        for `numKeys` keys (S, static), or failure when that is not possible;
        the attribute itself when it has no such parameter.
      }], "::mlir::FailureOr<::mlir::Attribute>", "resolveFor",
      (ins "int64_t":$numKeys), [{}], [{ return $_attr; }]>
  ];
}

def Attn_ScoreModAttrInterface : AttrInterface<"ScoreModAttrInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    A score modifier: a function applied to each score s = scale q . k
    before the mask and the softmax (logit soft-capping, say). Like a mask,
    it never exists as a tensor: a lowering asks the attribute for the
    arithmetic of one score. The lowerings keep their scores in a unit of
    their own (the flash strategy's log2 domain holds log2(e) s): the
    modifier is asked for unit * f(s) given unit * s. Masks still decide
    which tiles are visited.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds unit * f(s) from `score` = unit * s (f32) for the score at
        `at` (a modifier that ignores positions ignores it).
      }], "::mlir::Value", "buildModifiedScore",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$score, "double":$unit,
           "const ::mlir::attn::ScorePosition &":$at)>,
    InterfaceMethod<[{
        Builds f'(s), the derivative that the backward multiplies dS by,
        from `modified` = unit * f(s) (f32) for the score at `at`; null when
        f'(s) = 1 for every s (f adds to s a term that does not depend on
        it): the backward then needs no factor.
      }], "::mlir::Value", "buildDerivative",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "::mlir::Value":$modified, "double":$unit,
           "const ::mlir::attn::ScorePosition &":$at)>,
    InterfaceMethod<[{
        Whether f depends on the positions of the query and the key (a
        lowering that renumbers them, as the sparse decompositions do, must
        then keep this modifier away).
      }], "bool", "dependsOnPositions", (ins), [{}], [{ return true; }]>
  ];
}

def Attn_ShapeContractOpInterface : OpInterface<"ShapeContractOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    States how the dimensions of an op's operands and results relate, by
    naming each dimension with a symbol (B, H, N, S, D, ...): dimensions of one
    op that carry the same symbol have the same size. Entry-point export uses
    it to describe a function's arguments to the runtime, which checks the
    shapes of a call against the description before running generated code.
  }];
  let methods = [
    InterfaceMethod<[{
        Reports each shaped operand and result to `contract`: its role name
        (q, k, v, ...) and one symbol per dimension; and integer operands whose
        values are bounded by a dimension.
      }], "void", "describeShapeContract",
      (ins "::mlir::attn::ShapeContract &":$contract)>
  ];
}

#endif // ATTN_INTERFACES_TD
