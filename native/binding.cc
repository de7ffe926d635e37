// Module entry point. Context-aware through Node-API: every Worker that loads the addon gets its own
// exports, and the shim keeps no mutable state of its own.
#include "mempolicy.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mempolicy::InitMempolicy(env, exports);
  mempolicy::InitPages(env, exports);
  mempolicy::InitProcess(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mempolicy, Init)
