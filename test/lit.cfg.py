# lit configuration of the attn test suite.

import glob
import os
import sys
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "attn"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "Package", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py", "check_mlir_blocks.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")

llvm_config.use_default_substitutions()  # FileCheck, not, count, ...

llvm_config.with_environment(
    "PATH", [os.path.join(config.attn_obj_root, "bin"), config.llvm_tools_dir],
    append_path=True)
config.substitutions.append(("%attn_src_root", config.attn_src_root))

# --param attn_mattr=FEATURES: attn-run compiles for this machine with those
# target features (-avx512f: an AVX2 machine's vector code), as ctest's
# lit-avx2/ tests do. Only the tool is replaced, not paths that name it. The
# runtime is told the CPU lacks the features taken away, so code that still
# used them would not load.
mattr = lit_config.params.get("attn_mattr")
if mattr:
    # Its own %t files: ctest runs both variants of a test at once.
    config.test_exec_root = os.path.join(
        config.attn_obj_root, "test-mattr" + mattr.replace(",", "_"))
    config.substitutions.append(
        (r"(?<![\w/.-])attn-run(?![\w.-])", "attn-run --mattr=" + mattr))
    config.environment["ATTN_CPU_LACKS"] = ",".join(
        f[1:] for f in mattr.split(",") if f.startswith("-"))
config.substitutions.append(("%python", sys.executable))

# The project's environment (.venv, scripts/setup.sh): numpy and ml_dtypes,
# for the tests of .npy files as numpy users write them.
venv_python = os.path.join(config.attn_src_root, ".venv", "bin", "python")
if os.path.exists(venv_python) and subprocess.run(
        [venv_python, "-c", "import numpy, ml_dtypes"],
        capture_output=True).returncode == 0:
    config.available_features.add("ml-dtypes")
    config.substitutions.append(("%venv_python", venv_python))
else:
    lit_config.note("no numpy and ml_dtypes in .venv: the tests of bf16 "
                    ".npy files as numpy writes them are skipped")

# GPU integration tests run only where a CUDA driver and a GPU are present.
if os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi"):
    config.available_features.add("cuda")
else:
    lit_config.note("no GPU here: the GPU integration tests "
                    "(Integration/GPU, REQUIRES: cuda) are skipped; "
                    "scripts/gpu/ runs them on a GPU machine")

# The kernels' PTX is assembled by ptxas where the CUDA Toolkit is installed.
ptxas = shutil.which("ptxas") or next(
    (p for p in ("/usr/local/cuda/bin/ptxas",) if os.path.exists(p)), None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
else:
    lit_config.note("no ptxas (CUDA Toolkit): the PTX assembly tests are "
                    "skipped")

# cuobjdump shows the SASS ptxas made: from the CUDA Toolkit, or from PyPI's
# nvidia-cuda-cuobjdump in the project's environment (scripts/setup.sh).
cuobjdump = shutil.which("cuobjdump") or next(
    iter(sorted(glob.glob(os.path.join(
        config.attn_src_root, ".venv", "lib", "python3*", "site-packages",
        "nvidia", "cu*", "bin", "cuobjdump")))
        + (["/usr/local/cuda/bin/cuobjdump"]
           if os.path.exists("/usr/local/cuda/bin/cuobjdump") else [])),
    None)
if cuobjdump:
    config.available_features.add("cuobjdump")
    config.substitutions.append(("%cuobjdump", cuobjdump))
else:
    lit_config.note("no cuobjdump: the SASS tests are skipped")
