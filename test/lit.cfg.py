# lit configuration of the attn test suite.

import os
import shutil

import lit.formats
from lit.llvm import llvm_config

config.name = "attn"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "check_mlir_blocks.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")

llvm_config.use_default_substitutions()  # FileCheck, not, count, ...

tools_dirs = [
    os.path.join(config.attn_obj_root, "tools", tool)
    for tool in ("attn-opt", "attn-translate", "attn-run")
]
llvm_config.with_environment("PATH", tools_dirs + [config.llvm_tools_dir],
                             append_path=True)
config.substitutions.append(("%attn_src_root", config.attn_src_root))

# GPU integration tests run only where a CUDA driver is present.
if os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi"):
    config.available_features.add("cuda")
