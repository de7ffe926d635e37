// Module entry point and the table of every export. Context-aware through Node-API: every Worker that
// loads the addon gets its own exports object built from this table, and the shim keeps no mutable
// state of its own (process.cc's process-wide lock is the one exception, and says why).
#include "mempolicy.h"

namespace {

struct Export {
  const char* name;
  napi_callback callback;
};

// The JavaScript side of each is declared in src/binding.ts (NativeBinding); test/exports.test.ts
// checks the two agree.
constexpr Export kExports[] = {
    {"setMempolicy", mempolicy::SetMempolicy},
    {"getMempolicy", mempolicy::GetMempolicy},
    {"threadPolicy", mempolicy::ThreadPolicy},
    {"nodeOf", mempolicy::NodeOf},
    {"mbind", mempolicy::Mbind},
    {"setHomeNode", mempolicy::SetHomeNode},
    {"alloc", mempolicy::Alloc},
    {"pageNodes", mempolicy::PageNodes},
    {"movePages", mempolicy::MovePages},
    {"mbindAsync", mempolicy::MbindAsync},
    {"migratePages", mempolicy::MigratePages},
    {"migratePagesSync", mempolicy::MigratePagesSync},
    {"processExclusive", mempolicy::ProcessExclusive},
    {"signalThreads", mempolicy::SignalThreads},
    {"setAffinity", mempolicy::SetAffinity},
    {"getAffinity", mempolicy::GetAffinity},
    {"getcpu", mempolicy::Getcpu},
    {"execve", mempolicy::Execve},
    {"signalDefault", mempolicy::SignalDefault},
    {"shmGet", mempolicy::ShmGet},
    {"shmSize", mempolicy::ShmSize},
    {"shmAttach", mempolicy::ShmAttach},
    {"mapShared", mempolicy::MapShared},
    {"mappings", mempolicy::Mappings},
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const Export& e : kExports) {
    napi_value fn = nullptr;
    if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.callback, nullptr, &fn) == napi_ok) {
      exports.Set(e.name, Napi::Value(env, fn));
    }
  }
  exports.Set("constants", Napi::Value(env, mempolicy::Constants(env)));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(mempolicy::PageSize())));
  exports.Set("noWholePage", Napi::Number::New(env, mempolicy::kNoWholePage));
  exports.Set("mapLimit", Napi::Number::New(env, mempolicy::kMapLimit));
  return exports;
}

}  // namespace

NODE_API_MODULE(mempolicy, Init)
