//===- AttnDialect.td - the attn dialect -------------------*- tablegen -*-===//
//
// The attn dialect describes attention mechanisms declaratively: what is
// attended to what, with which mask and scale. How it is computed (materialized
// scores, online-softmax tiles, a GPU kernel) is decided by lowering passes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Declarative attention mechanisms";
  let description = [{
    Ops that state an attention mechanism (scaled dot-product attention with
    its mask, key lengths and head sharing; attention layers that own their
    projections) independently of the strategy that computes it.
  }];
  // The parser names the masks when a name is none of them (MaskSyntax.cpp).
  let useDefaultAttributePrinterParser = 0;
  let extraClassDeclaration = [{
    void registerAttributes();
    ::mlir::Attribute parseAttribute(::mlir::DialectAsmParser &parser,
                                     ::mlir::Type type) const override;
    void printAttribute(::mlir::Attribute attr,
                        ::mlir::DialectAsmPrinter &printer) const override;
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // ATTN_DIALECT_TD
