// RUN: attn-opt %s --attn-lower-attention-to-gpu="tensor-cores=1 tensor-core-key-tile=16" --split-input-file --verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-lower-attention-to-gpu --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=OFF
// RUN: not attn-opt %s --attn-lower-attention-to-gpu="tensor-cores=1 tensor-core-query-tile=96" --split-input-file 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not attn-opt %s --attn-lower-attention-to-gpu="tensor-cores=1 tensor-core-key-tile=24" --split-input-file 2>&1 | FileCheck %s --check-prefix=KEYS

// ROWS: error: tensor-core-query-tile must be 64 or 128 (16 or 32 rows per warp of 4), not 96
// KEYS: error: tensor-core-key-tile must be a multiple of 16 in [16, 128], not 24

// GQA-4, causal, D = 32, key tiles of 16: a block of 4 warps (128 threads)
// over 64 packed rows. Q (64 x 40) and two stages of K and V (16 x 40) in
// dynamic shared memory, rows padded by 8 elements: 5120 + 2 * 2560 bytes.
// The operands' rows have unit stride (the 16-byte copies need it).
// CHECK-LABEL: func.func @gqa_causal
// CHECK: %[[Q:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x8x?x32xbf16> to memref<?x8x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[K:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x2x?x32xbf16> to memref<?x2x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[V:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<?x2x?x32xbf16> to memref<?x2x?x32xbf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x8x?x32xbf16>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in (%{{[a-z0-9]+}} = %c128, %{{[a-z0-9]+}} = %c1, %{{[a-z0-9]+}} = %c1) dynamic_shared_memory_size %c10240_i32
// CHECK: %[[SHARED:.*]] = gpu.dynamic_shared_memory
// CHECK: %[[QT:.*]] = memref.view %[[SHARED]][%c0][] : {{.*}} to memref<2560xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[KT:.*]] = memref.view %[[SHARED]][%c5120][] : {{.*}} to memref<1280xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[VT:.*]] = memref.view %[[SHARED]][%c7680][] : {{.*}} to memref<1280xbf16, #gpu.address_space<workgroup>>
//
// The Q tile in 16-byte pieces, zero-filled past N (8 elements or 0 read),
// as one group; the first K/V tile as the next; wait for Q, read its A
// fragments once.
// CHECK: %[[FILL:.*]] = arith.select %{{.*}}, %c8, %c0 : index
// CHECK: nvgpu.device_async_copy %[[Q]][{{.*}}], %[[QT]][{{.*}}], 8, %[[FILL]] {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK: scf.if
// CHECK: nvgpu.device_async_copy %[[K]][{{.*}}], %[[KT]][{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_copy %[[V]][{{.*}}], %[[VT]][{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: %[[FIRST:.*]] = nvgpu.device_async_create_group
// CHECK: nvgpu.device_async_wait %[[FIRST]] {numGroups = 1 : i32}
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[QT]][%{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvgpu.ldmatrix %[[QT]][%{{.*}}] {numTiles = 4 : i32, transpose = false}
//
// The key tiles: O (4 tiles of 8 columns x 4 accumulators), m and l of the
// thread's two rows, and the lane's K and V addresses in the current stage.
// CHECK: %[[STATE:.*]]:22 = scf.for %[[T:.*]] = %c0 to %[[COUNT:.*]] step %c1 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, index, index)
// The next tile is copied into the other stage while this one is computed.
// CHECK: %[[NEXT:.*]] = arith.addi %[[T]], %c1
// CHECK: %[[HAS_NEXT:.*]] = arith.cmpi slt, %[[NEXT]], %[[COUNT]]
// CHECK: scf.if %[[HAS_NEXT]]
// CHECK: nvgpu.device_async_copy %[[K]]
// CHECK: nvgpu.device_async_copy %[[V]]
// CHECK: %[[GROUP:.*]] = nvgpu.device_async_create_group
// CHECK: nvgpu.device_async_wait %[[GROUP]] {numGroups = 1 : i32}
// CHECK: gpu.barrier
// S = Q K^T: K's rows are K^T's columns (no transpose), two 8-key tiles per
// ldmatrix.x4, m16n8k16 with f32 accumulators.
// CHECK: nvgpu.ldmatrix %[[KT]][%{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {{{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// The mask only where the schedule calls the tile partial.
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst
// Row maximum across the quad (lanes 4g .. 4g + 3), exp2 on the MUFU with
// the scale folded into one FMA.
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// CHECK: math.fma
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// P packed to bf16 pairs is the A operand of P V; V's B fragments by
// ldmatrix.trans.
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvgpu.ldmatrix %[[VT]][%{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.yield
// After the loop: l summed across the quad, O / l stored as bf16 pairs.
// CHECK: gpu.shuffle  xor %[[STATE]]#18, %c1_i32, %c32_i32 : f32
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: vector.store %{{.*}}, %[[OUT]][{{.*}}] : memref<?x8x?x32xbf16>, vector<2xbf16>
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// Without tensor-cores the SIMT kernel takes the same op.
// OFF-LABEL: func.func @gqa_causal
// OFF-NOT: nvvm.mma.sync
// OFF: workgroup(%{{.*}} : memref<32x32xf32, #gpu.address_space<workgroup>>
func.func @gqa_causal(%q: tensor<?x8x?x32xbf16>, %k: tensor<?x2x?x32xbf16>,
                      %v: tensor<?x2x?x32xbf16>) -> tensor<?x8x?x32xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x8x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>)
        -> tensor<?x8x?x32xbf16>
  return %o : tensor<?x8x?x32xbf16>
}

// -----

// f16 operands (mma's f16 form takes vector<2xf16> registers), key lengths
// and the lse, which the first lane of each quad writes for its rows.
// CHECK-LABEL: func.func @f16_lse
// CHECK: gpu.launch
// CHECK: nvvm.mma.sync {{.*}} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: %[[LEADER:.*]] = arith.cmpi eq, %{{.*}}, %c0
// CHECK: scf.if %[[LEADER]]
// CHECK: math.log2
// CHECK: memref.store %{{.*}} : memref<?x2x?xf32>
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xf16>
// CHECK: vector.store %{{.*}} : memref<?x2x?x16xf16>, vector<2xf16>
func.func @f16_lse(%q: tensor<?x2x?x16xf16>, %k: tensor<?x2x?x16xf16>,
                   %v: tensor<?x2x?x16xf16>, %len: tensor<?xi32>)
    -> (tensor<?x2x?x16xf16>, tensor<?x2x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%len)
      : (tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>, tensor<?x2x?x16xf16>,
         tensor<?xi32>) -> (tensor<?x2x?x16xf16>, tensor<?x2x?xf32>)
  return %o, %lse : tensor<?x2x?x16xf16>, tensor<?x2x?xf32>
}

// -----

// Decode (one token of 4 query heads per K/V head): the group's 4 rows in
// one block, block x the chunk; the block writes (m, l) and the
// unnormalized O for the exact merge after the kernel.
// CHECK-LABEL: func.func @decode_step
// CHECK: %[[M:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?x4xf32>
// CHECK: %[[L:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?x4xf32>
// CHECK: %[[ACC:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?x4x32xf32>
// CHECK: gpu.launch blocks(%[[CHUNK:[a-z0-9]+]], %[[HK:[a-z0-9]+]], %[[BATCH:[a-z0-9]+]])
// CHECK: nvvm.mma.sync
// CHECK: memref.store %{{.*}}, %[[M]][%[[BATCH]], %[[HK]], %[[CHUNK]], %{{.*}}]
// CHECK: memref.store %{{.*}}, %[[L]][%[[BATCH]], %[[HK]], %[[CHUNK]], %{{.*}}]
// CHECK: vector.store %{{.*}}, %[[ACC]][%[[BATCH]], %[[HK]], %[[CHUNK]], %{{.*}}, %{{.*}}] : memref<?x2x?x4x32xf32>, vector<2xf32>
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[M]]
func.func @decode_step(%q: tensor<?x8x1x32xbf16>, %k: tensor<?x2x?x32xbf16>,
                       %v: tensor<?x2x?x32xbf16>) -> tensor<?x8x1x32xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      {attn.strategy = "decode"}
      : (tensor<?x8x1x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>)
        -> tensor<?x8x1x32xbf16>
  return %o : tensor<?x8x1x32xbf16>
}

// -----

// A union visits its members' key ranges in turn: a tile an earlier member
// holds is skipped (its state passes through), so no tile counts twice.
// CHECK-LABEL: func.func @window_and_globals
// CHECK: scf.for %{{.*}} iter_args(%[[O0:[a-z0-9]+]] = %cst{{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, index, index)
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-NEXT: scf.yield %[[O0]],
// CHECK-NEXT: } else {
// CHECK: nvvm.mma.sync
func.func @window_and_globals(%q: tensor<?x1x?x16xbf16>,
                              %k: tensor<?x1x?x16xbf16>,
                              %v: tensor<?x1x?x16xbf16>)
    -> tensor<?x1x?x16xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.union<[#attn.window<left = 16, right = 16,
                                     alignment = top_left>,
                        #attn.global<tokens = [0, 200]>]>)
      : (tensor<?x1x?x16xbf16>, tensor<?x1x?x16xbf16>, tensor<?x1x?x16xbf16>)
        -> tensor<?x1x?x16xbf16>
  return %o : tensor<?x1x?x16xbf16>
}

// -----

// What the tensor cores do not take keeps the SIMT kernel: f32 operands, a
// head dimension that is not a multiple of 16, decode rows that do not fit
// the 64 of a block.
// CHECK-LABEL: func.func @not_for_tensor_cores
// CHECK-NOT: nvvm.mma.sync
// CHECK: workgroup(%{{.*}} : memref<32x16xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK: workgroup(%{{.*}} : memref<32x24xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK: workgroup(%{{.*}} : memref<32x16xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.mma.sync
// CHECK: return
func.func @not_for_tensor_cores(%q: tensor<?x2x?x16xf32>,
                                %q24: tensor<?x2x?x24xbf16>,
                                %q80: tensor<?x80x1x16xbf16>,
                                %k80: tensor<?x1x?x16xbf16>)
    -> (tensor<?x2x?x16xf32>, tensor<?x2x?x24xbf16>, tensor<?x80x1x16xbf16>) {
  %a = attn.attention %q, %q, %q
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  %b = attn.attention %q24, %q24, %q24
      : (tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>, tensor<?x2x?x24xbf16>)
        -> tensor<?x2x?x24xbf16>
  %c = attn.attention %q80, %k80, %k80 {attn.strategy = "decode"}
      : (tensor<?x80x1x16xbf16>, tensor<?x1x?x16xbf16>, tensor<?x1x?x16xbf16>)
        -> tensor<?x80x1x16xbf16>
  return %a, %b, %c
      : tensor<?x2x?x16xf32>, tensor<?x2x?x24xbf16>, tensor<?x80x1x16xbf16>
}
