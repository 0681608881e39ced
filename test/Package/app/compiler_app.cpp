// Compiles an attn module in the process with attn::compiler, then calls
// it through attn::runtime.
#include "attention.h"
#include "attn/Target/CPU.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

int main() {
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  mlir::OwningOpRef<mlir::ModuleOp> source =
      mlir::parseSourceFile<mlir::ModuleOp>(SDPA_SOURCE, context.get());
  if (!source)
    return 1;
  auto module = mlir::attn::compileForRuntime(*source);
  if (!module.ok())
    return report("compiling sdpa.mlir", module.status());
  auto function = module->lookup("sdpa");
  if (!function.ok())
    return report("sdpa", function.status());
  const int64_t n = 70; // two query tiles, the second cut
  std::vector<attn::HostTensor> inputs = makeInputs(n);
  auto outputs =
      function->call({inputs[0].view(), inputs[1].view(), inputs[2].view()});
  if (!outputs.ok())
    return report("calling sdpa", outputs.status());
  double error = maxError(inputs, (*outputs)[0], n);
  std::printf("compiler-app: %s, max error %.3g\n",
              function->signature().c_str(), error);
  return error < 1e-5 ? 0 : 1;
}
