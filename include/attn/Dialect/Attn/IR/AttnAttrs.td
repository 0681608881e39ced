//===- AttnAttrs.td - attributes of the attn dialect -------*- tablegen -*-===//

#ifndef ATTN_ATTRS_TD
#define ATTN_ATTRS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/IR/EnumAttr.td"

def Attn_AlignTopLeft : I32EnumAttrCase<"TopLeft", 0, "top_left">;
def Attn_AlignBottomRight : I32EnumAttrCase<"BottomRight", 1, "bottom_right">;
def Attn_Alignment : I32EnumAttr<"Alignment",
    "where the query rows sit among the key positions",
    [Attn_AlignTopLeft, Attn_AlignBottomRight]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_CausalMaskAttr : Attn_Attr<"CausalMask", "causal",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "causal mask: a query sees the keys at or before its position";
  let description = [{
    Query row `i` may attend to key `j` when `j <= pos(i)`, where `pos(i)` is
    `i` (top_left) or `L - N + i` (bottom_right, `L` the valid key count).
    With N == S both alignments coincide; with N < S (decoding against a
    cache, chunked prefill) only bottom_right lets the last query see every
    key. A query whose position is negative sees nothing; its output is 0.

    ```mlir
    #attn.causal<bottom_right>
    ```
  }];
  let parameters = (ins EnumParameter<Attn_Alignment>:$alignment);
  let assemblyFormat = "`<` $alignment `>`";
}

def Attn_WindowMaskAttr : Attn_Attr<"WindowMask", "window",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "sliding-window mask (Beltagy et al. 2020)";
  let description = [{
    Query row `i` may attend to key `j` when
    `pos(i) - left <= j <= pos(i) + right`, with `pos(i)` as for the causal
    mask. `right = 0` is the causal window of decoder models (Mistral:
    `left = w - 1`); `left = right = w/2` is Longformer's symmetric window.
    Each row sees at most `left + right + 1` keys, whatever N and S are.

    ```mlir
    #attn.window<left = 255, right = 0, alignment = bottom_right>
    ```
  }];
  let parameters = (ins "int64_t":$left, "int64_t":$right,
                        EnumParameter<Attn_Alignment>:$alignment);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // ATTN_ATTRS_TD
