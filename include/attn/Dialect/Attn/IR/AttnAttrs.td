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

def Attn_RelLess : I32EnumAttrCase<"Less", 0, "lt">;
def Attn_RelLessEqual : I32EnumAttrCase<"LessEqual", 1, "le">;
def Attn_RelEqual : I32EnumAttrCase<"Equal", 2, "eq">;
def Attn_RelGreaterEqual : I32EnumAttrCase<"GreaterEqual", 3, "ge">;
def Attn_RelGreater : I32EnumAttrCase<"Greater", 4, "gt">;
def Attn_RelNotEqual : I32EnumAttrCase<"NotEqual", 5, "ne">;
def Attn_BlockRelation : I32EnumAttr<"BlockRelation",
    "how a key's block must compare with its query's block",
    [Attn_RelLess, Attn_RelLessEqual, Attn_RelEqual, Attn_RelGreaterEqual,
     Attn_RelGreater, Attn_RelNotEqual]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}

def Attn_FeatureEluPlusOne : I32EnumAttrCase<"EluPlusOne", 0, "elu_plus_one">;
def Attn_FeatureRelu : I32EnumAttrCase<"Relu", 1, "relu">;
def Attn_FeatureIdentity : I32EnumAttrCase<"Identity", 2, "identity">;
def Attn_FeatureMap : I32EnumAttr<"FeatureMap",
    "the feature map phi of linear attention, applied elementwise",
    [Attn_FeatureEluPlusOne, Attn_FeatureRelu, Attn_FeatureIdentity]> {
  let cppNamespace = "::mlir::attn";
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
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
}

def Attn_WindowMaskAttr : Attn_Attr<"WindowMask", "window",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "sliding-window mask (Beltagy et al. 2020)";
  let description = [{
    Query row `i` may attend to key `j` when
    `pos(i) - left <= j <= pos(i) + right` and `pos(i) - j` is a multiple of
    `dilation` (default 1), with `pos(i)` as for the causal mask. `right = 0`
    is the causal window of decoder models (Mistral: `left = w - 1`);
    `left = right = w/2` is Longformer's symmetric window; a dilation d keeps
    every d-th key of a window d times as wide (Longformer's dilated
    windows). Each row sees at most `(left + right) / dilation + 1` keys,
    whatever N and S are.

    ```mlir
    #attn.window<left = 255, right = 0, alignment = bottom_right>
    #attn.window<left = 64, right = 64, alignment = top_left, dilation = 4>
    ```
  }];
  let parameters = (ins "int64_t":$left, "int64_t":$right,
                        EnumParameter<Attn_Alignment>:$alignment,
                        DefaultValuedParameter<"int64_t", "1">:$dilation);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_GlobalMaskAttr : Attn_Attr<"GlobalMask", "global",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "global tokens (Beltagy et al. 2020)";
  let description = [{
    The listed key positions are global: every query sees them, and a query
    whose position (top-left: its row) is one of them sees every key. Alone
    it allows only the pairs that touch a global token; it is meant to be
    united with a window:
    ```mlir
    #attn.union<[#attn.window<left = 128, right = 128, alignment = top_left>,
                 #attn.global<tokens = [0, 1]>]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$tokens);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_UnionMaskAttr : Attn_Attr<"UnionMask", "union",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface, ["resolveFor"]>]> {
  let summary = "a key is visible when any of the masks allows it";
  let description = [{
    ```mlir
    #attn.union<[#attn.causal<top_left>, #attn.global<tokens = [0]>]>
    ```
  }];
  let parameters = (ins "::mlir::ArrayAttr":$masks);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_IntersectionMaskAttr : Attn_Attr<"IntersectionMask", "intersection",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface, ["resolveFor"]>]> {
  let summary = "a key is visible when every mask allows it";
  let description = [{
    ```mlir
    #attn.intersection<[#attn.causal<top_left>,
                        #attn.window<left = 64, right = 64, alignment = top_left, dilation = 2>]>
    ```
  }];
  let parameters = (ins "::mlir::ArrayAttr":$masks);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_StridedMaskAttr : Attn_Attr<"StridedMask", "strided",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface, ["resolveFor"]>]> {
  let summary = "the Sparse Transformer's strided pattern (Child et al. 2019)";
  let description = [{
    With stride l and positions as for the causal mask (top-left: p = i), the
    two patterns of the paper are
      A1: the previous l positions, p - l < j <= p;
      A2: every l-th position, (p - j) mod l = 0 and j <= p.
    `bidirectional` drops `j <= p` (A1 becomes |p - j| < l). A row sees their
    union, or with `split_heads` even heads see A1 and odd heads A2 (the
    paper's split of the patterns over the heads). `stride = 0` (the default)
    means l = ceil(sqrt(S)), which needs a static S. With l = sqrt(S) a row
    sees O(sqrt(S)) keys.
    ```mlir
    #attn.strided<stride = 64>
    #attn.strided<stride = 32, bidirectional = true, split_heads = true>
    ```
  }];
  let parameters = (ins DefaultValuedParameter<"int64_t", "0">:$stride,
                        DefaultValuedParameter<"bool", "false">:$bidirectional,
                        DefaultValuedParameter<"bool", "false">:$split_heads);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_FixedMaskAttr : Attn_Attr<"FixedMask", "fixed",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface, ["resolveFor"]>]> {
  let summary = "the Sparse Transformer's fixed pattern (Child et al. 2019)";
  let description = [{
    Keys are cut into blocks of l positions; with p as for the causal mask,
      A1: the query's own block, floor(j / l) = floor(p / l);
      A2: the last c positions of every block ("summary" keys),
          j mod l >= l - c;
    both with j <= p unless `bidirectional`. A row sees their union, or with
    `split_heads` even heads A1 and odd heads A2. `block = 0` (the default)
    means l = ceil(sqrt(S)), which needs a static S; `summary` is c
    (1 <= c <= l).
    ```mlir
    #attn.fixed<block = 128, summary = 8>
    ```
  }];
  let parameters = (ins DefaultValuedParameter<"int64_t", "0">:$block,
                        DefaultValuedParameter<"int64_t", "1">:$summary,
                        DefaultValuedParameter<"bool", "false">:$bidirectional,
                        DefaultValuedParameter<"bool", "false">:$split_heads);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_BlockwiseMaskAttr : Attn_Attr<"BlockwiseMask", "blockwise",
    [DeclareAttrInterfaceMethods<Attn_MaskAttrInterface>]> {
  let summary = "a mask on blocks: query block vs key block";
  let description = [{
    Query rows are cut into blocks of `query_block` rows and keys into blocks
    of `key_block` keys, both from index 0; row `i` may attend to key `j`
    when `floor(j / key_block) <relation> floor(i / query_block)`, with
    `relation` one of lt, le, eq, ge, gt, ne. With equal blocks, `eq` is
    block-diagonal (chunked local) attention and `le` block-causal attention;
    the fixed pattern of the Sparse Transformer is cut into such pieces
    (attn-decompose-sparse-masks), its summary keys gathered into blocks of
    c keys.
    ```mlir
    #attn.blockwise<query_block = 64, key_block = 64, relation = eq>
    #attn.blockwise<query_block = 128, key_block = 8, relation = lt>
    ```
  }];
  let parameters = (ins "int64_t":$query_block, "int64_t":$key_block,
                        EnumParameter<Attn_BlockRelation>:$relation);
  let hasCustomAssemblyFormat = 1; // MaskSyntax.cpp
  let genVerifyDecl = 1;
}

def Attn_SoftcapAttr : Attn_Attr<"Softcap", "softcap",
    [DeclareAttrInterfaceMethods<Attn_ScoreModAttrInterface,
                                 ["dependsOnPositions"]>]> {
  let summary = "logit soft-capping: s <- cap * tanh(s / cap) (Gemma 2)";
  let description = [{
    Each score s = scale q . k becomes cap * tanh(s / cap) before the mask
    and the softmax: the logits stay within (-cap, cap) however large the
    products grow, as Gemma 2 caps its attention logits (cap = 50). Near 0
    the function is s itself (slope 1); it never changes which keys a query
    sees, nor the order of their scores.

    ```mlir
    #attn.softcap<cap = 50.0>
    ```
  }];
  let parameters = (ins APFloatParameter<"the cap, positive and finite">:$cap);
  let hasCustomAssemblyFormat = 1; // AttnAttrs.cpp
  let genVerifyDecl = 1;
}

def Attn_AlibiAttr : Attn_Attr<"Alibi", "alibi",
    [DeclareAttrInterfaceMethods<Attn_ScoreModAttrInterface>]> {
  let summary = "ALiBi: s <- s - m_h |pos(i) - j| (Press et al. 2022)";
  let description = [{
    Attention with linear biases: each score of query head h is lowered by
    m_h times the distance between the query's position pos(i) (as for the
    causal mask of the same alignment: i, or L - N + i) and the key j, so
    near keys weigh more, with no position embedding. The slopes are the
    paper's, from the op's H heads and the largest bias b (default 8): for
    H a power of two m_h = 2^(-b (h + 1) / H); otherwise, with c the largest
    power of two below H, the c slopes of c heads followed by the odd-rank
    slopes of 2c heads, m_h = 2^(-b (2 (h - c) + 1) / (2 c)) for h >= c.

    ```mlir
    #attn.alibi<bottom_right>
    #attn.alibi<top_left, max_bias = 16.0>
    ```
  }];
  let parameters = (ins EnumParameter<Attn_Alignment>:$alignment,
                        APFloatParameter<"the largest bias b">:$max_bias);
  let hasCustomAssemblyFormat = 1; // AttnAttrs.cpp
  let genVerifyDecl = 1;
}

#endif // ATTN_ATTRS_TD
