// Calls a module compiled by the installed attn-translate, through
// attn::runtime alone.
#include "attention.h"

int main() {
  auto module = attn::Module::loadLibrary("libsdpa.so");
  if (!module.ok())
    return report("loading libsdpa.so", module.status());
  auto function = module->lookup("sdpa");
  if (!function.ok())
    return report("sdpa", function.status());
  const int64_t n = 37;
  std::vector<attn::HostTensor> inputs = makeInputs(n);
  auto outputs =
      function->call({inputs[0].view(), inputs[1].view(), inputs[2].view()});
  if (!outputs.ok())
    return report("calling sdpa", outputs.status());
  double error = maxError(inputs, (*outputs)[0], n);
  std::printf("runtime-app: %s, max error %.3g\n",
              function->signature().c_str(), error);
  return error < 1e-5 ? 0 : 1;
}
