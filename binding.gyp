{
  "targets": [
    {
      "target_name": "mempolicy",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/binding.cc", "native/mempolicy.cc", "native/pages.cc", "native/process.cc", "native/cpu.cc", "native/mappings.cc"],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
          "defines": [
            "NAPI_VERSION=8",
            "NODE_ADDON_API_DISABLE_DEPRECATED",
            "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
            "_GNU_SOURCE"
          ],
          "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
          # Never unmapped once loaded: another thread may still be returning from the process-scope
          # signal handler when the last environment that loaded the addon (a Worker) unloads it.
          # See docs/threads.md, "The addon is never unloaded".
          "ldflags": ["-Wl,-z,nodelete"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
